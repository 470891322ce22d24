const fs = require('node:fs');
const path = require('node:path');

const file = path.join(process.cwd(), 'input.txt');
const local = path.join(__dirname, 'data', 'items.json');
let lines = [];
if (fs.existsSync(file)) {
  lines = fs.readFileSync(file, 'utf8').split('\n');
}
console.log(lines.length, path.basename(local));
