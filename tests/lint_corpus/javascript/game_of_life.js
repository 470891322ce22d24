function step(live) {
  const counts = new Map();
  for (const cell of live) {
    const [x, y] = cell.split(',').map(Number);
    for (let dx = -1; dx <= 1; dx++) {
      for (let dy = -1; dy <= 1; dy++) {
        if (dx || dy) {
          const key = `${x + dx},${y + dy}`;
          counts.set(key, (counts.get(key) || 0) + 1);
        }
      }
    }
  }
  return new Set([...counts].filter(([k, n]) => n === 3 || (n === 2 && live.has(k))).map(([k]) => k));
}

let glider = new Set(['1,0', '2,1', '0,2', '1,2', '2,2']);
for (let i = 0; i < 4; i++) glider = step(glider);
console.log([...glider].sort());
