const input = '{"users":[{"name":"ada","age":36},{"name":"tim","age":12}]}';
const data = JSON.parse(input);
for (const user of data.users) {
  user.adult = user.age >= 18;
}
console.log(JSON.stringify(data, null, 2));
const copy = structuredClone(data);
copy.users.pop();
console.log(data.users.length, copy.users.length);
