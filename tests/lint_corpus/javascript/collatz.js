function collatz(n) {
  const seq = [n];
  while (true) {
    if (n === 1) return seq;
    n = n % 2 === 0 ? n / 2 : 3 * n + 1;
    seq.push(n);
  }
}

let best = [0, 0];
for (let i = 1; i < 10000; i++) {
  const len = collatz(i).length;
  if (len > best[1]) best = [i, len];
}
console.log(best);
