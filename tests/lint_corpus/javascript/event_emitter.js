const EventEmitter = require('events');

class Thermostat extends EventEmitter {
  set(temp) {
    this.temp = temp;
    if (temp > 25) this.emit('hot', temp);
  }
}

const t = new Thermostat();
t.on('hot', (temp) => console.log(`too hot: ${temp}`));
[20, 26, 30].forEach((x) => t.set(x));
