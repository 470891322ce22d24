from collections import Counter

with open("words.txt") as f:
    counts = Counter(f.read().split())
for word, n in counts.most_common(3):
    print(f"{word:>6} {n}")
