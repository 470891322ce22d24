from functools import cache
from itertools import islice


@cache
def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def fib_gen():
    a, b = 0, 1
    while True:
        yield a
        a, b = b, a + b


print([fib(i) for i in range(15)])
print(list(islice(fib_gen(), 15)))
