const readline = require('readline');

const rl = readline.createInterface({ input: process.stdin });
let total = 0;
let count = 0;
rl.on('line', (line) => {
  for (const tok of line.trim().split(/\s+/)) {
    if (tok) {
      total += Number(tok);
      count++;
    }
  }
});
rl.on('close', () => {
  console.log(count, total);
});
