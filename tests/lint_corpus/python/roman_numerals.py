VALUES = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
          (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]


def to_roman(n: int) -> str:
    parts = []
    for value, symbol in VALUES:
        count, n = divmod(n, value)
        parts.append(symbol * count)
    return "".join(parts)


def from_roman(s: str) -> int:
    lookup = {sym: val for val, sym in VALUES if len(sym) == 1}
    total = 0
    for a, b in zip(s, s[1:] + " ", strict=True):
        v = lookup[a]
        total += -v if b != " " and lookup[b] > v else v
    return total


for n in (1994, 2024, 3999):
    r = to_roman(n)
    print(n, r, from_roman(r))
