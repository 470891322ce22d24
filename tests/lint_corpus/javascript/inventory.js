const inventory = [
  { item: 'apple', qty: 5, price: 1.2 },
  { item: 'pear', qty: 0, price: 0.8 },
  { item: 'kiwi', qty: 12, price: 0.5 },
];

const inStock = inventory.filter(({ qty }) => qty > 0);
const value = inStock.reduce((sum, { qty, price }) => sum + qty * price, 0);
const byName = Object.fromEntries(inventory.map((e) => [e.item, e]));
console.log(inStock.map((e) => e.item), value.toFixed(2), Object.keys(byName));
const grouped = inventory.reduce((acc, e) => {
  const key = e.qty > 0 ? 'available' : 'soldOut';
  acc[key] = [...(acc[key] || []), e.item];
  return acc;
}, {});
console.log(grouped);
