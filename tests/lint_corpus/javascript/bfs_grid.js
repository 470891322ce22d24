const grid = [
  'S..#....',
  '.#.#.##.',
  '.#...#..',
  '...#.#.E',
];

function bfs(g) {
  const rows = g.length;
  const cols = g[0].length;
  let start = null;
  g.forEach((row, r) => {
    const c = row.indexOf('S');
    if (c >= 0) start = [r, c];
  });
  const seen = new Set([start.join(',')]);
  const queue = [[start, 0]];
  while (queue.length) {
    const [[r, c], d] = queue.shift();
    if (g[r][c] === 'E') return d;
    for (const [dr, dc] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
      const nr = r + dr;
      const nc = c + dc;
      const key = `${nr},${nc}`;
      if (nr >= 0 && nr < rows && nc >= 0 && nc < cols && g[nr][nc] !== '#' && !seen.has(key)) {
        seen.add(key);
        queue.push([[nr, nc], d + 1]);
      }
    }
  }
  return -1;
}

console.log(bfs(grid));
