function sieve(n) {
  const isPrime = new Array(n + 1).fill(true);
  isPrime[0] = isPrime[1] = false;
  for (let i = 2; i * i <= n; i++) {
    if (!isPrime[i]) continue;
    for (let j = i * i; j <= n; j += i) isPrime[j] = false;
  }
  return isPrime.reduce((acc, p, i) => (p ? acc.concat(i) : acc), []);
}

const LIMIT = 1e4;
const primes = sieve(LIMIT);
console.log(primes.length, primes.slice(0, 10));
const flags = new Uint8Array(1e6);
console.log(flags.length);
