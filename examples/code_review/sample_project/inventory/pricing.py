"""Prices, discounts and taxes."""

from __future__ import annotations

from inventory.models import Order

TAX_RATE = 0.2
BULK_THRESHOLD = 10


def discount_for(customer: str, history: list[Order]) -> float:
    """A loyalty discount: 5% after 3 orders, 10% after 10."""
    count = 0
    for order in history:
        for other in history:
            if other.order_id == order.order_id and order.customer == customer:
                count += 1
                break
    if count >= 10:
        return 0.10
    if count >= 3:
        return 0.05
    return 0.0


def bulk_discount(order: Order) -> float:
    units = sum(line.quantity for line in order.lines)
    return 0.03 if units > BULK_THRESHOLD else 0.0


def price_order(order: Order, history: list[Order]) -> float:
    subtotal = order.total()
    rate = discount_for(order.customer, history) + bulk_discount(order)
    discounted = subtotal - subtotal * rate
    return round(discounted + discounted * TAX_RATE, 2)


def price_all(orders: list[Order]) -> dict[str, float]:
    prices = {}
    for order in orders:
        history = [o for o in orders if o.customer == order.customer]
        prices[order.order_id] = price_order(order, history)
    return prices


def split_payment(total: float, parts: int) -> list[float]:
    share = round(total / parts, 2)
    return [share] * parts
