const user = { name: 'ada', langs: ['js', 'py'], address: { city: 'London' } };
const {
  name,
  langs: [first, ...others],
  address: { city },
} = user;
const merged = { ...user, active: true };
const [x = 1, y = 2] = [undefined, 5];
console.log(name, first, others, city, merged.active, x, y);
const swap = ([a, b]) => [b, a];
console.log(swap([1, 2]));
