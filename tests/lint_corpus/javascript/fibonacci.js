const memo = new Map();
function fib(n) {
  if (n < 2) return n;
  if (memo.has(n)) return memo.get(n);
  const v = fib(n - 1) + fib(n - 2);
  memo.set(n, v);
  return v;
}

function* fibGen() {
  let [a, b] = [0, 1];
  while (true) {
    yield a;
    [a, b] = [b, a + b];
  }
}

const out = [];
for (const f of fibGen()) {
  if (out.length >= 15) break;
  out.push(f);
}
console.log(out, fib(50));
