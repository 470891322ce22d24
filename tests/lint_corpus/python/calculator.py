import operator

OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


def rpn(expr: str) -> float:
    stack = []
    for tok in expr.split():
        if tok in OPS:
            b, a = stack.pop(), stack.pop()
            stack.append(OPS[tok](a, b))
        else:
            stack.append(float(tok))
    return stack.pop()


def apply(name, a, b):
    return getattr(operator, name)(a, b)


print(rpn("3 4 + 2 *"), apply("mul", 6, 7))
