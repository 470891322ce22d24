import random


def quicksort(xs):
    if len(xs) < 2:
        return xs
    pivot = random.choice(xs)
    less = [x for x in xs if x < pivot]
    equal = [x for x in xs if x == pivot]
    greater = [x for x in xs if x > pivot]
    return quicksort(less) + equal + quicksort(greater)


random.seed(42)
data = [random.randint(0, 100) for _ in range(20)]
assert quicksort(data) == sorted(data)
print(quicksort(data))
