# A little CPU and memory: big lists, sorting, a generous allocation freed again, deep recursion.
import gc
import sys

data = sorted(range(200_000), key=lambda x: -x)
assert data[0] == 199_999
big = bytearray(64 << 20)
big[-1] = 1
del big
gc.collect()
sys.setrecursionlimit(5000)


def depth(n):
    return 0 if n == 0 else 1 + depth(n - 1)


assert depth(3000) == 3000
sys.stdout.write("x" * 100_000 + "\n")
sys.stderr.write("warning: this goes to stderr\n")
print("CORPUS-OK")
