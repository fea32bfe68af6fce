"""The sample project's only tests."""

from inventory.models import Item, Order
from inventory.pricing import bulk_discount, price_order


def test_price_order_adds_tax() -> None:
    order = Order("o1", "ana")
    order.add(Item("A1", "anvil", 10.0, 3), 1)
    assert price_order(order, []) == 12.0


def test_bulk_discount() -> None:
    order = Order("o2", "ben")
    order.add(Item("B2", "bolt", 0.5, 100), 20)
    assert bulk_discount(order) == 0.03
