function quicksort(xs) {
  if (xs.length < 2) return xs;
  const [pivot, ...rest] = xs;
  const less = rest.filter((x) => x < pivot);
  const more = rest.filter((x) => x >= pivot);
  return [...quicksort(less), pivot, ...quicksort(more)];
}

const data = Array.from({ length: 20 }, (_, i) => (i * 37) % 23);
console.log(quicksort(data));
