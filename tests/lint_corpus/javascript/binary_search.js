function binarySearch(xs, target) {
  let lo = 0;
  let hi = xs.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid] === target) return mid;
    if (xs[mid] < target) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

const xs = Array.from({ length: 50 }, (_, i) => i * 3);
for (const t of [0, 3, 4, 147]) {
  console.log(t, binarySearch(xs, t));
}
