// What programs commonly ask the system: os facts, process facts, memory, time, stdin.
'use strict';
const fs = require('fs');
const os = require('os');

console.log(os.hostname(), os.platform(), os.arch(), os.release(), os.cpus().length, os.totalmem(), os.freemem());
console.log(os.uptime(), os.loadavg(), os.tmpdir(), os.homedir(), os.userInfo().username);
// Listing interfaces needs a netlink socket, which the sandbox refuses (EPERM): a probe, not a crash.
try { console.log(os.networkInterfaces()); } catch (err) { console.log('no interfaces:', err.message); }
console.log(process.pid, process.ppid, process.getuid(), process.getgid(), process.memoryUsage().rss);
console.log(process.cpuUsage(), process.resourceUsage().maxRSS, process.version, process.env.HOME);
console.log(Date.now(), new Date().toString(), Intl.DateTimeFormat().resolvedOptions().timeZone);
console.log(fs.readFileSync(0, 'utf8'));
console.log('CORPUS-OK');
