import random

random.seed(7)
pos = 0
visits = {}
for _ in range(1000):
    pos += random.choice((-1, 1))
    visits[pos] = visits.get(pos, 0) + 1
print(pos, max(visits, key=visits.get))
