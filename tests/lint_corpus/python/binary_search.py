from bisect import bisect_left


def binary_search(xs, target):
    lo, hi = 0, len(xs) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if xs[mid] == target:
            return mid
        if xs[mid] < target:
            lo = mid + 1
        else:
            hi = mid - 1
    return -1


xs = list(range(0, 100, 3))
for t in (0, 3, 4, 99):
    idx = binary_search(xs, t)
    print(t, idx, bisect_left(xs, t))
