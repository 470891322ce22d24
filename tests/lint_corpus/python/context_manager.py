from contextlib import contextmanager


class Indenter:
    def __init__(self):
        self.level = 0

    def __enter__(self):
        self.level += 1
        return self

    def __exit__(self, *exc):
        self.level -= 1
        return False

    def print(self, text):
        print("    " * self.level + text)


@contextmanager
def tag(name):
    print(f"<{name}>")
    yield
    print(f"</{name}>")


with Indenter() as ind, tag("p"):
    ind.print("hello")
