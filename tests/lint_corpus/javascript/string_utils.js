const compress = (s) => s.replace(/(.)\1*/g, (run, ch) => `${ch}${run.length}`);
const titleCase = (s) =>
  s
    .toLowerCase()
    .split(' ')
    .map((w, i) => (i && ['a', 'an', 'the', 'of'].includes(w) ? w : w[0].toUpperCase() + w.slice(1)))
    .join(' ');

console.log(compress('aaabccdddd'));
console.log(titleCase('the lord of the rings'));
console.log('='.repeat(40));
console.log('42'.padStart(6, '0'), 'abc'.at(-1));
