const args = process.argv.slice(2);
const verbose = args.includes('--verbose');
const name = process.env.USER_NAME || 'world';
if (verbose) console.error('args:', args);
console.log(`hello ${name}`);
if (args.includes('--fail')) process.exit(2);
