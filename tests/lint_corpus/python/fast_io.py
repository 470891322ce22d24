import sys

input = sys.stdin.readline


def main():
    data = sys.stdin.read().split()
    if not data:
        return
    n = int(data[0])
    nums = list(map(int, data[1:1 + n]))
    sys.stdout.write(f"{sum(nums)}\n")


main()
