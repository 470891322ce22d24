function hanoi(n, from = 'A', to = 'C', via = 'B', moves = []) {
  if (n === 0) return moves;
  hanoi(n - 1, from, via, to, moves);
  moves.push(`${from}->${to}`);
  hanoi(n - 1, via, to, from, moves);
  return moves;
}

console.log(hanoi(10).length, hanoi(3).join(' '));
