class MinHeap {
  constructor() {
    this.a = [];
  }

  push(item) {
    this.a.push(item);
    this.a.sort((x, y) => x[0] - y[0]);
  }

  pop() {
    return this.a.shift();
  }

  get size() {
    return this.a.length;
  }
}

function dijkstra(edges, start) {
  const graph = {};
  for (const [u, v, w] of edges) {
    (graph[u] ||= []).push([v, w]);
    (graph[v] ||= []).push([u, w]);
  }
  const dist = { [start]: 0 };
  const heap = new MinHeap();
  heap.push([0, start]);
  while (heap.size) {
    const [d, u] = heap.pop();
    if (d > (dist[u] ?? Infinity)) continue;
    for (const [v, w] of graph[u] || []) {
      if (d + w < (dist[v] ?? Infinity)) {
        dist[v] = d + w;
        heap.push([d + w, v]);
      }
    }
  }
  return dist;
}

console.log(dijkstra([['a', 'b', 1], ['b', 'c', 2], ['a', 'c', 5]], 'a'));
