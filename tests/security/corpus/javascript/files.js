// File work in the working directory and /tmp: sync, callback and promise APIs, streams.
'use strict';
const assert = require('assert');
const fs = require('fs');
const fsp = require('fs/promises');
const os = require('os');
const path = require('path');

(async () => {
  fs.mkdirSync('data/sub', { recursive: true });
  fs.writeFileSync('data/a.txt', 'alpha\n');
  fs.appendFileSync('data/a.txt', 'beta\n');
  fs.copyFileSync('data/a.txt', 'data/sub/b.txt');
  fs.renameSync('data/sub/b.txt', 'data/sub/c.txt');
  assert.strictEqual(fs.statSync('data/a.txt').size, 11);
  assert.deepStrictEqual(fs.readdirSync('data').sort(), ['a.txt', 'sub']);
  await fsp.writeFile('data/p.txt', 'promised');
  assert.strictEqual(await fsp.readFile('data/p.txt', 'utf8'), 'promised');
  await new Promise((resolve, reject) => fs.readFile('data/a.txt', (err, d) => (err ? reject(err) : resolve(d))));
  await new Promise((resolve) => {
    const ws = fs.createWriteStream('data/stream.txt');
    for (let i = 0; i < 1000; i++) ws.write(`line ${i}\n`);
    ws.end(resolve);
  });
  let lines = 0;
  for await (const chunk of fs.createReadStream('data/stream.txt')) lines += chunk.toString().split('\n').length - 1;
  assert.strictEqual(lines, 1000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'x-'));
  fs.writeFileSync(path.join(tmp, 'f'), Buffer.alloc(4096));
  fs.truncateSync(path.join(tmp, 'f'), 10);
  fs.symlinkSync('a.txt', 'data/link');
  assert.strictEqual(fs.readlinkSync('data/link'), 'a.txt');
  fs.chmodSync('data/a.txt', 0o600);
  fs.utimesSync('data/a.txt', new Date(), new Date());
  fs.rmSync('data', { recursive: true });
  fs.rmSync(tmp, { recursive: true });
  assert(!fs.existsSync('data'));
  console.log(process.cwd(), fs.readdirSync('.'));
  console.log('CORPUS-OK');
})();
