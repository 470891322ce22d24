function counter(start = 0) {
  let n = start;
  return {
    inc: () => ++n,
    dec: () => --n,
    get value() {
      return n;
    },
  };
}

const c = counter(5);
c.inc();
c.inc();
c.dec();
console.log(c.value);

const adders = [1, 2, 3].map((k) => (x) => x + k);
console.log(adders.map((f) => f(10)));
