def transpose(m):
    return [list(row) for row in zip(*m, strict=True)]


def multiply(a, b):
    bt = transpose(b)
    return [[sum(x * y for x, y in zip(row, col, strict=True)) for col in bt] for row in a]


def identity(n):
    return [[1 if i == j else 0 for j in range(n)] for i in range(n)]


a = [[1, 2], [3, 4]]
print(multiply(a, identity(2)))
print(transpose(a))
grid = [[0] * 100 for _ in range(100)]
print(len(grid), len(grid[0]))
