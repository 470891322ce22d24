const merge = (left, right) => {
  const out = [];
  let i = 0;
  let j = 0;
  while (i < left.length && j < right.length) {
    out.push(left[i] <= right[j] ? left[i++] : right[j++]);
  }
  return out.concat(left.slice(i), right.slice(j));
};

const mergeSort = (xs) => {
  if (xs.length <= 1) return xs;
  const mid = Math.floor(xs.length / 2);
  return merge(mergeSort(xs.slice(0, mid)), mergeSort(xs.slice(mid)));
};

module.exports = { mergeSort };
console.log(mergeSort([38, 27, 43, 3, 9, 82, 10]));
