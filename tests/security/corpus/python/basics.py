# Everyday language features: strings, numbers, collections, exceptions, recursion, unicode.
import collections
import decimal
import fractions
import functools
import itertools
import math
import re

words = re.findall(r"\w+", "the quick brown fox jumps over the lazy dog the end")
counts = collections.Counter(words)
assert counts["the"] == 3
assert math.isclose(sum(fractions.Fraction(1, n) for n in range(1, 6)), 137 / 60)
decimal.getcontext().prec = 50
assert str(decimal.Decimal(2).sqrt())[:10] == "1.41421356"


@functools.cache
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


assert fib(200) > 0
assert len(list(itertools.permutations(range(6)))) == 720
try:
    {}["missing"]
except KeyError:
    pass
print("héllo wörld ✓", 2 ** 100, [x * x for x in range(5)])
print("CORPUS-OK")
