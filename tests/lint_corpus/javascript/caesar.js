const shift = (text, k) =>
  text.replace(/[a-z]/gi, (ch) => {
    const base = ch <= 'Z' ? 65 : 97;
    return String.fromCharCode(((ch.charCodeAt(0) - base + k + 26) % 26) + base);
  });

const secret = shift('Hello, World!', 3);
console.log(secret, shift(secret, -3));
