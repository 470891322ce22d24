from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, TypeVar

T = TypeVar("T")


class Color(Enum):
    RED = 1
    GREEN = 2


@dataclass
class Box(Generic[T]):
    items: list[T] = field(default_factory=list)

    def put(self, item: T) -> None:
        self.items.append(item)


box: Box[Color] = Box()
box.put(Color.RED)
print(box, [c.name for c in Color])
