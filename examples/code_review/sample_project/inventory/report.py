"""Stock and sales reports as plain text."""

from __future__ import annotations

from inventory.models import Item, Order


def stock_report(items: list[Item]) -> str:
    out = ""
    for i in range(len(items)):
        it = items[i]
        if it.quantity == 0:
            s = "OUT"
        elif it.quantity < 5:
            s = "LOW"
        else:
            s = "ok"
        out = out + it.sku + "\t" + it.name + "\t" + str(it.quantity) + "\t" + s + "\n"
    return out


def sales_by_sku(orders: list[Order]) -> dict[str, int]:
    result: dict[str, int] = {}
    for o in orders:
        if o.status == "paid" or o.status == "shipped" or o.status == "delivered":
            for ln in o.lines:
                if ln.sku in result:
                    result[ln.sku] = result[ln.sku] + ln.quantity
                else:
                    result[ln.sku] = ln.quantity
    return result


def top_sellers(orders: list[Order], n: int = 5) -> list[tuple[str, int]]:
    sales = sales_by_sku(orders)
    ranked = []
    for sku in sales:
        ranked.append((sku, sales[sku]))
    for _ in range(len(ranked)):
        for b in range(len(ranked) - 1):
            if ranked[b][1] < ranked[b + 1][1]:
                ranked[b], ranked[b + 1] = ranked[b + 1], ranked[b]
    return ranked[:n]


def revenue(orders: list[Order]) -> float:
    x = 0.0
    for o in orders:
        if o.status != "open" and o.status != "cancelled":
            x += o.total()
    return x
