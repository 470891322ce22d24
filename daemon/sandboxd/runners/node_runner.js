// Runs inside a worker as `node -e <this file>`, a child of the worker's init. Pre-warms the
// module compiler, says "ready" on fd 4, then reads one run on fd 3: skips its limits (Node
// cannot set rlimits: on Linux the daemon has set them, runners/init.py), writes the program
// and its input files into the working directory, and executes it as the main module. Once
// the 'exit' listeners have run, it reports the exit code on fd 5 ahead of Node's own
// teardown (runners/init.py says why and what the daemon trusts of it).
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

function load(filename) {
  const m = new Module(filename, null);
  m.filename = filename;
  m.paths = Module._nodeModulePaths(path.dirname(filename));
  return m;
}

function writeNew(name, data) {
  const dir = path.dirname(name);
  if (dir !== '.') fs.mkdirSync(dir, { recursive: true });
  const c = fs.constants;
  const fd = fs.openSync(name, c.O_WRONLY | c.O_CREAT | c.O_EXCL | c.O_NOFOLLOW, 0o600);
  try {
    fs.writeSync(fd, data);
  } finally {
    fs.closeSync(fd);
  }
}

const EXIT = 5;
const exitPipe = fs.fstatSync(EXIT);

function reportExit(code) {
  try {
    const now = fs.fstatSync(EXIT);
    if (now.dev === exitPipe.dev && now.ino === exitPipe.ino) fs.writeSync(EXIT, Buffer.from([code & 0xff]));
  } catch (err) {
    // closed by the program: pid 1 reports the exit instead
  }
}

// Reported only once a program runs: a runner discarded while idle exits without a word.
let running = false;
// Wrapping emit runs the report after every 'exit' listener, the program's included, with the
// exit code they leave. After an uncaught exception (or rejection) Node emits 'exit' before it
// prints the error: then pid 1 reports, once everything is written.
let fatal = false;
process.on('uncaughtExceptionMonitor', () => { fatal = true; });
const emit = process.emit;
process.emit = function (event, ...args) {
  const handled = emit.call(this, event, ...args);
  if (event === 'exit' && running && !fatal) {
    const code = process.exitCode ?? args[0];
    if (Number.isInteger(code)) reportExit(code);
  }
  return handled;
};
// Node starts with SIGXFSZ ignored, so a write past --max-file-size would only throw EFBIG
// and the run would end as an ordinary crash. libuv restores SIG_DFL when the last listener
// goes away: the kernel then kills the program exactly as it does a Python one.
const restoreXfsz = () => {};
process.on('SIGXFSZ', restoreXfsz);
process.removeListener('SIGXFSZ', restoreXfsz);

// V8 compiles each function on its first call, and Node creates stdio streams, console
// internals, and its tick, timer and immediate machinery on first use: all of that is done
// here, on the idle worker's time, as is the path of a run (reading a request, placing files,
// the environment). The console writes to a sink, the file is placed in /tmp and removed.
load('/warm.js')._compile("const squares = [1, 2, 3].map((x) => x * x); process.stdout.write('');", '/warm.js');
{
  const { Writable } = require('stream');
  const sink = new Writable({ write(chunk, encoding, done) { done(); } });
  new console.Console(sink, sink).log('%s %d', 'warm', 1, { a: [1] });
  // The global console binds process.stdout on its first call: made here with stdout's write
  // stubbed for the call, so nothing reaches the run's output.
  const write = process.stdout.write;
  process.stdout.write = () => true;
  console.log('warm');
  process.stdout.write = write;
  writeNew('/tmp/.sandbox-warm', Buffer.from('warm'));
  fs.unlinkSync('/tmp/.sandbox-warm');
  path.resolve(process.cwd(), 'warm.js').endsWith('.mjs');
  JSON.parse('{"warm": [1, "x"]}');
  const zero = fs.openSync('/dev/zero', 'r');
  readExact(zero, 16);
  readExact(zero, readExact(zero, 4).readUInt32BE(0)).toString();
  fs.closeSync(zero);
  process.env.SANDBOX_WARM = '1';
  for (const key of Object.keys(process.env)) if (key === 'SANDBOX_WARM') delete process.env[key];
  Object.assign(process.env, {});
}
// libuv starts its thread pool on the first asynchronous file operation. Started here, it is
// part of the idle runtime: a run's first fs call does not pay for it, and a tight
// --max-processes cannot make that call abort the process for want of a thread.
fs.stat('/', () => {});
process.nextTick(() => {});
Promise.resolve().then(() => {});
// The run itself is served from an immediate, once the loop has been round once: what Node
// does after a program's synchronous part (ticks, microtasks, the loop's phases) is warm too.
setTimeout(() => setImmediate(serve), 0);

function serve() {
  fs.writeSync(4, '{"ready": true}\n');
  fs.closeSync(4);
  let header;
  let code;
  const files = [];
  try {
    readExact(3, 16);  // the run's rlimits: in force already where the platform can set them
    header = JSON.parse(readExact(3, readExact(3, 4).readUInt32BE(0)).toString());
    code = readExact(3, header.code_size);
    for (const [name, size] of header.files) files.push([name, readExact(3, size)]);
  } catch (err) {
    process.exit(0);
  }
  fs.closeSync(3);
  try {
    writeNew(header.filename, code);
    for (const [name, data] of files) writeNew(name, data);
  } catch (err) {
    process.stderr.write(`sandbox: cannot place input file: ${err.message}\n`);
    process.exit(1);
  }
  for (const key of Object.keys(process.env)) delete process.env[key];
  Object.assign(process.env, header.env);
  const filename = path.resolve(process.cwd(), header.filename);
  process.argv = [process.argv[0], filename, ...header.args];
  running = true;
  if (filename.endsWith('.mjs')) {
    // An ES module is loaded by the ESM loader, as `node main.mjs` would: top-level await and
    // import.meta work, and a failure is an unhandled rejection (printed, exit code 1).
    import(require('url').pathToFileURL(filename).href);
  } else {
    const main = load(filename);
    main.id = '.';
    process.mainModule = main;
    main._compile(code.toString(), filename);
    main.loaded = true;
  }
}
