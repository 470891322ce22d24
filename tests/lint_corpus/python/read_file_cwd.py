import os

path = os.path.join(os.getcwd(), "input.txt")
if os.path.exists(path):
    with open("input.txt", encoding="utf-8") as fh:
        lines = fh.read().splitlines()
else:
    lines = []
print(len(lines), "lines in", os.path.basename(path))
