from collections import deque


def balanced(s: str) -> bool:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack = []
    for ch in s:
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs and (not stack or stack.pop() != pairs[ch]):
            return False
    return not stack


queue = deque([1, 2, 3])
queue.append(4)
queue.appendleft(0)
print(queue.popleft(), list(queue))
print(balanced("{[()]}"), balanced("(]"))
