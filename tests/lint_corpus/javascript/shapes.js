class Shape {
  area() {
    throw new Error('not implemented');
  }

  describe() {
    return `${this.constructor.name} with area ${this.area().toFixed(2)}`;
  }
}

class Circle extends Shape {
  constructor(r) {
    super();
    this.r = r;
  }

  area() {
    return Math.PI * this.r ** 2;
  }
}

class Rect extends Shape {
  constructor(w, h) {
    super();
    Object.assign(this, { w, h });
  }

  area() {
    return this.w * this.h;
  }
}

const shapes = [new Circle(1), new Rect(2, 3), new Circle(2.5)];
shapes.sort((a, b) => a.area() - b.area()).forEach((s) => console.log(s.describe()));
