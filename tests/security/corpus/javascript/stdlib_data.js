// Crypto, compression, buffers, URLs, text encoding, util: the batteries most programs reach for.
'use strict';
const assert = require('assert');
const crypto = require('crypto');
const zlib = require('zlib');
const util = require('util');

const blob = Buffer.from(JSON.stringify({ a: [1, 2, 3] }));
assert(zlib.gunzipSync(zlib.gzipSync(blob)).equals(blob));
assert(zlib.inflateSync(zlib.deflateSync(blob)).equals(blob));
assert(zlib.brotliDecompressSync(zlib.brotliCompressSync(blob)).equals(blob));
console.log(crypto.createHash('sha256').update(blob).digest('hex'), crypto.randomBytes(8).toString('hex'));
console.log(crypto.createHmac('sha256', 'k').update(blob).digest('base64'), crypto.randomUUID());
const key = crypto.scryptSync('pw', 'salt', 32);
const iv = crypto.randomBytes(16);
const c = crypto.createCipheriv('aes-256-cbc', key, iv);
const enc = Buffer.concat([c.update(blob), c.final()]);
const d = crypto.createDecipheriv('aes-256-cbc', key, iv);
assert(Buffer.concat([d.update(enc), d.final()]).equals(blob));
const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const sig = crypto.sign('sha256', blob, privateKey);
assert(crypto.verify('sha256', blob, publicKey, sig));
assert.strictEqual(new URL('https://example.com/a?b=1').searchParams.get('b'), '1');
assert.strictEqual(new TextDecoder().decode(new TextEncoder().encode('✓')), '✓');
console.log(util.inspect({ deep: { er: [1, 2] } }), util.format('%s=%d', 'x', 1));
console.log('CORPUS-OK');
