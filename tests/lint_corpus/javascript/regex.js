const EMAIL = /[\w.+-]+@[\w-]+\.[\w.]+/g;
const text = 'Contact ada@example.com or grace.hopper@navy.mil, not bob@invalid';
console.log(text.match(EMAIL));
console.log(text.replace(/@\S+/g, '@...'));
const re = new RegExp('\\d{3}-\\d{4}', 'g');
console.log('call 555-1234 or 555-9876'.match(re));
