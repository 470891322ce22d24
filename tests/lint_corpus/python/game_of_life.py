from itertools import product


def step(live):
    counts = {}
    for (x, y) in live:
        for dx, dy in product((-1, 0, 1), repeat=2):
            if dx or dy:
                key = (x + dx, y + dy)
                counts[key] = counts.get(key, 0) + 1
    return {cell for cell, n in counts.items() if n == 3 or (n == 2 and cell in live)}


glider = {(1, 0), (2, 1), (0, 2), (1, 2), (2, 2)}
for _ in range(4):
    glider = step(glider)
print(sorted(glider))
