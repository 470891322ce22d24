// Local IPC a well-behaved program may use: a unix-socket server and client, pipes via streams.
'use strict';
const assert = require('assert');
const net = require('net');
const { PassThrough } = require('stream');

(async () => {
  const got = await new Promise((resolve, reject) => {
    const server = net.createServer((sock) => sock.on('data', (d) => { resolve(d.toString()); server.close(); sock.end(); }));
    server.on('error', reject);
    server.listen('sock', () => {
      const c = net.connect('sock', () => { c.write('unix'); c.end(); });
      c.on('error', reject);
    });
  });
  assert.strictEqual(got, 'unix');
  const p = new PassThrough();
  p.end('through');
  let s = '';
  for await (const chunk of p) s += chunk;
  assert.strictEqual(s, 'through');
  console.log('CORPUS-OK');
})();
