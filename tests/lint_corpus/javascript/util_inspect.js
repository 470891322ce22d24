const util = require('util');
const assert = require('assert');

const nested = { a: { b: { c: { d: [1, 2, 3] } } } };
console.log(util.inspect(nested, { depth: null, compact: true }));
assert.deepStrictEqual([1, 2].map((x) => x * 2), [2, 4]);
console.log(util.format('%s has %d items', 'list', 3));
