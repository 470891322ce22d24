from itertools import pairwise


def compress(s: str) -> str:
    if not s:
        return s
    out, run = [], 1
    for prev, cur in pairwise(s):
        if cur == prev:
            run += 1
        else:
            out.append(f"{prev}{run}")
            run = 1
    out.append(f"{s[-1]}{run}")
    return "".join(out)


def title_case(s: str) -> str:
    small = {"a", "an", "the", "of", "and"}
    words = s.lower().split()
    return " ".join(w if i and w in small else w.capitalize() for i, w in enumerate(words))


print(compress("aaabccdddd"), title_case("the lord of the rings"))
print("=" * 40)
