"""Plain data classes for items and orders."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Item:
    sku: str
    name: str
    price: float
    quantity: int = 0
    tags: list[str] = field(default_factory=list)

    def in_stock(self) -> bool:
        return self.quantity > 0


@dataclass
class OrderLine:
    sku: str
    quantity: int
    unit_price: float

    @property
    def total(self) -> float:
        return self.quantity * self.unit_price


@dataclass
class Order:
    order_id: str
    customer: str
    lines: list[OrderLine] = field(default_factory=list)
    status: str = "open"

    def add(self, item: Item, quantity: int) -> None:
        for line in self.lines:
            if line.sku == item.sku:
                line.quantity += quantity
                return
        self.lines.append(OrderLine(item.sku, quantity, item.price))

    def total(self) -> float:
        total = 0.0
        for line in self.lines:
            total = total + line.total
        return total
