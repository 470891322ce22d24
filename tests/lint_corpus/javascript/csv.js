const DATA = `name,dept,salary
ada,eng,120
grace,eng,130
linus,ops,90`;

const [header, ...rows] = DATA.split('\n').map((line) => line.split(','));
const records = rows.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])));
const totals = {};
for (const rec of records) {
  totals[rec.dept] = (totals[rec.dept] || 0) + Number(rec.salary);
}
console.table(totals);
