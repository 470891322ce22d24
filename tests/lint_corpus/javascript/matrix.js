const transpose = (m) => m[0].map((_, i) => m.map((row) => row[i]));

const multiply = (a, b) => {
  const bt = transpose(b);
  return a.map((row) => bt.map((col) => row.reduce((s, x, i) => s + x * col[i], 0)));
};

const identity = (n) => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));

const a = [[1, 2], [3, 4]];
console.log(multiply(a, identity(2)), transpose(a));
