"""A small stock-keeping service: items, orders, prices and reports."""

from inventory.models import Item, Order, OrderLine

__all__ = ["Item", "Order", "OrderLine"]
