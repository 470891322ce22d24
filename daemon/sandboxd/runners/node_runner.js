// Runs inside a worker as `node -e <this file>`, a child of the worker's init. Pre-warms
// the module compiler, then blocks on fd 3 for one run and executes it as the main module.
'use strict';
const fs = require('fs');
const path = require('path');
const Module = require('module');

function readExact(fd, n) {
  const buf = Buffer.alloc(n);
  let off = 0;
  while (off < n) {
    const got = fs.readSync(fd, buf, off, n - off, null);
    if (got === 0) throw new Error('control pipe closed');
    off += got;
  }
  return buf;
}

function load(code, filename) {
  const m = new Module(filename, null);
  m.filename = filename;
  m.paths = Module._nodeModulePaths(path.dirname(filename));
  return m;
}

const warm = load('', '/warm.js');
warm._compile("const squares = [1, 2, 3].map((x) => x * x); process.stdout.write('');", '/warm.js');

fs.writeSync(4, '{"ready": true}\n');
fs.closeSync(4);

let header;
let code;
try {
  header = JSON.parse(readExact(3, readExact(3, 4).readUInt32BE(0)).toString());
  code = readExact(3, header.code_size).toString();
} catch (err) {
  process.exit(0);
}
fs.closeSync(3);
for (const key of Object.keys(process.env)) delete process.env[key];
Object.assign(process.env, header.env);
const filename = path.resolve(process.cwd(), header.filename);
process.argv = [process.argv[0], filename, ...header.args];
const main = load(code, filename);
main.id = '.';
process.mainModule = main;
main._compile(code, filename);
main.loaded = true;
