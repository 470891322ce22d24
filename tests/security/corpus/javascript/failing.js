// An ordinary program may fail: its stack trace must reach stderr and the run still be "ok".
'use strict';
console.log('CORPUS-OK');
throw new Error('expected failure');
