import sys

count = int(sys.stdin.readline())
numbers = [int(x) for x in sys.stdin.readline().split()][:count]
print(f"sum of {count} numbers: {sum(numbers)}")
