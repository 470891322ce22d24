const fs = require('fs');
const path = require('path');

fs.mkdirSync('results', { recursive: true });
const lines = Array.from({ length: 10 }, (_, i) => `${i} ${i * i}`);
fs.writeFileSync(path.join('results', 'squares.txt'), lines.join('\n') + '\n');
fs.appendFileSync('results/log.txt', 'done\n');
fs.writeFileSync('./summary.json', JSON.stringify({ count: lines.length }));
console.log(fs.readdirSync('results'));
