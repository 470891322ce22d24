// A little CPU and memory: big arrays, sorting, typed arrays, WebAssembly, lots of output, GC.
'use strict';
const assert = require('assert');
const data = Array.from({ length: 200000 }, (_, i) => i).sort((a, b) => b - a);
assert.strictEqual(data[0], 199999);
let big = new Uint8Array(64 << 20);
big[big.length - 1] = 1;
big = null;
let garbage = [];
for (let i = 0; i < 200000; i++) garbage.push({ i, s: `x${i}` });
garbage = null;
// (module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
const wasm = Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0, 1, 7, 1, 96, 2, 127, 127, 1, 127, 3, 2, 1, 0, 7, 7, 1,
  3, 97, 100, 100, 0, 0, 10, 9, 1, 7, 0, 32, 0, 32, 1, 106, 11]);
const instance = new WebAssembly.Instance(new WebAssembly.Module(wasm));
assert.strictEqual(instance.exports.add(2, 3), 5);
process.stdout.write('x'.repeat(100000) + '\n');
console.error('warning: this goes to stderr');
console.log('CORPUS-OK');
