const fs = require('fs');

const text = fs.readFileSync(0, 'utf8').toLowerCase();
const counts = new Map();
for (const word of text.split(/\W+/).filter(Boolean)) {
  counts.set(word, (counts.get(word) || 0) + 1);
}
const top = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10);
for (const [word, n] of top) {
  console.log(`${word.padStart(15)} ${n}`);
}
