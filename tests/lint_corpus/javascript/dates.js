const start = new Date(Date.UTC(2024, 0, 1));
const end = new Date('2024-12-25T00:00:00Z');
const days = Math.round((end - start) / 86400000);
let weekdays = 0;
for (let d = new Date(start); d < end; d.setUTCDate(d.getUTCDate() + 1)) {
  const day = d.getUTCDay();
  if (day !== 0 && day !== 6) weekdays++;
}
console.log(days, weekdays, end.toISOString().slice(0, 10));
