const scores = [72, 88, 95, 61, 79, 84, 90, 58, 77, 83];
const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
const sorted = [...scores].sort((a, b) => a - b);
const median = (sorted[4] + sorted[5]) / 2;
const stdev = Math.sqrt(scores.reduce((s, x) => s + (x - mean) ** 2, 0) / (scores.length - 1));
console.log(`mean=${mean.toFixed(2)} median=${median} stdev=${stdev.toFixed(2)}`);
console.log(Math.max(...scores), Math.min(...scores), Number.isInteger(median));
