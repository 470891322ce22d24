import sys
from collections import Counter

text = sys.stdin.read().lower()
words = [w.strip(".,!?;:\"'()") for w in text.split()]
counts = Counter(w for w in words if w)
for word, count in counts.most_common(10):
    print(f"{word:>15} {count}")
