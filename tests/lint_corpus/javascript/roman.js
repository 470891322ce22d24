const VALUES = [[1000, 'M'], [900, 'CM'], [500, 'D'], [400, 'CD'], [100, 'C'], [90, 'XC'],
  [50, 'L'], [40, 'XL'], [10, 'X'], [9, 'IX'], [5, 'V'], [4, 'IV'], [1, 'I']];

function toRoman(n) {
  let out = '';
  for (const [value, symbol] of VALUES) {
    out += symbol.repeat(Math.floor(n / value));
    n %= value;
  }
  return out;
}

for (const n of [1994, 2024, 3999]) console.log(n, toRoman(n));
