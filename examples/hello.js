console.log(`hello from Node ${process.version} in the sandbox`);
console.error('this goes to stderr');
