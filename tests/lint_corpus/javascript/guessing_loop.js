let secret = 37;
let lo = 0;
let hi = 100;
const guesses = [];
for (;;) {
  const guess = Math.floor((lo + hi) / 2);
  guesses.push(guess);
  if (guess === secret) break;
  if (guess < secret) lo = guess + 1;
  else hi = guess - 1;
}
console.log(guesses.join(', '));
