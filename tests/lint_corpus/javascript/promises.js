const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function worker(name, delay) {
  await sleep(delay);
  return `${name} done`;
}

async function main() {
  const results = await Promise.all([0, 1, 2].map((i) => worker(`w${i}`, i * 10)));
  console.log(results);
  const first = await Promise.race([sleep(5).then(() => 'slow'), Promise.resolve('fast')]);
  console.log(first);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
