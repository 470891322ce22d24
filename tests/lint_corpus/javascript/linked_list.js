class Node {
  constructor(value, next = null) {
    this.value = value;
    this.next = next;
  }
}

class LinkedList {
  constructor(values = []) {
    this.head = null;
    for (const v of [...values].reverse()) this.head = new Node(v, this.head);
  }

  *[Symbol.iterator]() {
    for (let n = this.head; n; n = n.next) yield n.value;
  }

  reverse() {
    let prev = null;
    let node = this.head;
    while (node) {
      [node.next, prev, node] = [prev, node, node.next];
    }
    this.head = prev;
    return this;
  }

  toString() {
    return [...this].join(' -> ');
  }
}

console.log(String(new LinkedList([1, 2, 3, 4]).reverse()));
