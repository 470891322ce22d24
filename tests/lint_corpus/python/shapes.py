import math
from abc import ABC, abstractmethod
from dataclasses import dataclass


class Shape(ABC):
    @abstractmethod
    def area(self) -> float: ...

    def describe(self) -> str:
        return f"{self.__class__.__name__} with area {self.area():.2f}"


@dataclass
class Circle(Shape):
    r: float

    def area(self) -> float:
        return math.pi * self.r ** 2


@dataclass
class Rect(Shape):
    w: float
    h: float

    def area(self) -> float:
        return self.w * self.h


shapes = [Circle(1), Rect(2, 3), Circle(2.5)]
for s in sorted(shapes, key=lambda s: s.area()):
    print(s.describe())
print(Circle.__mro__)
