import csv
import io
from collections import defaultdict

DATA = """name,dept,salary
ada,eng,120
grace,eng,130
linus,ops,90
"""
totals = defaultdict(float)
for row in csv.DictReader(io.StringIO(DATA)):
    totals[row["dept"]] += float(row["salary"])
out = io.StringIO()
writer = csv.writer(out)
writer.writerows(sorted(totals.items()))
print(out.getvalue())
