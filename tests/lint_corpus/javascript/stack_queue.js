function balanced(s) {
  const pairs = { ')': '(', ']': '[', '}': '{' };
  const stack = [];
  for (const ch of s) {
    if ('([{'.includes(ch)) stack.push(ch);
    else if (ch in pairs) {
      if (stack.pop() !== pairs[ch]) return false;
    }
  }
  return stack.length === 0;
}

class Queue {
  constructor() {
    this.items = {};
    this.head = 0;
    this.tail = 0;
  }

  enqueue(x) {
    this.items[this.tail++] = x;
  }

  dequeue() {
    const x = this.items[this.head];
    delete this.items[this.head++];
    return x;
  }
}

const q = new Queue();
[1, 2, 3].forEach((x) => q.enqueue(x));
console.log(q.dequeue(), balanced('{[()]}'), balanced('(]'));
