// Everyday language features: strings, numbers, collections, classes, regex, JSON, BigInt, Intl.
'use strict';
const assert = require('assert');
class Point { constructor(x, y) { this.x = x; this.y = y; } norm() { return Math.hypot(this.x, this.y); } }
assert.strictEqual(new Point(3, 4).norm(), 5);
const counts = new Map();
for (const w of 'the quick brown fox the lazy dog the end'.split(/\s+/)) counts.set(w, (counts.get(w) || 0) + 1);
assert.strictEqual(counts.get('the'), 3);
assert.strictEqual(2n ** 100n, 1267650600228229401496703205376n);
assert.deepStrictEqual(JSON.parse(JSON.stringify({ a: [1, 2], b: null })), { a: [1, 2], b: null });
const fib = (n) => (n < 2 ? n : fib(n - 1) + fib(n - 2));
assert.strictEqual(fib(20), 6765);
try { null.x; } catch (e) { assert(e instanceof TypeError); }
console.log(new Intl.NumberFormat('en-US').format(1234567.891), new Date(0).toISOString(), 'héllo ✓');
console.log([...new Set([3, 1, 3])].sort(), Array.from({ length: 5 }, (_, i) => i * i));
console.log('CORPUS-OK');
