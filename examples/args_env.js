console.log('argv:', JSON.stringify(process.argv.slice(2)));
console.log('GREETING:', process.env.GREETING);
console.log('environment keys:', Object.keys(process.env).sort().join(' '));
