total = 0
lines = []
while True:
    try:
        line = input()
    except EOFError:
        break
    if not line.strip():
        continue
    lines.append(line)
    total += sum(int(x) for x in line.split())
print(len(lines), total)
