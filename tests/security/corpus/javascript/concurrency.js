// Timers, promises, the thread pool, worker threads, child processes and an event emitter.
'use strict';
const assert = require('assert');
const { execFileSync, spawn } = require('child_process');
const crypto = require('crypto');
const EventEmitter = require('events');
const { Worker } = require('worker_threads');

(async () => {
  await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setImmediate(r));
  const hashes = await Promise.all(Array.from({ length: 8 }, (_, i) =>
    new Promise((res, rej) => crypto.pbkdf2(`p${i}`, 's', 1000, 32, 'sha256', (e, k) => (e ? rej(e) : res(k))))));
  assert.strictEqual(hashes.length, 8);
  const fromWorker = await new Promise((resolve, reject) => {
    const w = new Worker('const { parentPort } = require("worker_threads"); parentPort.postMessage(6 * 7);', { eval: true });
    w.on('message', resolve);
    w.on('error', reject);
  });
  assert.strictEqual(fromWorker, 42);
  assert.strictEqual(execFileSync(process.execPath, ['-e', 'console.log(1 + 1)']).toString(), '2\n');
  const code = await new Promise((resolve) => spawn(process.execPath, ['-e', 'process.exit(3)']).on('exit', resolve));
  assert.strictEqual(code, 3);
  const e = new EventEmitter();
  let seen = 0;
  e.on('tick', () => seen++);
  e.emit('tick');
  assert.strictEqual(seen, 1);
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, 20));
  assert(process.hrtime.bigint() - t0 >= 15_000_000n);
  console.log('CORPUS-OK');
})();
