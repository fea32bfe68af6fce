"""Storage in SQLite."""

from __future__ import annotations

import sqlite3

from inventory.models import Item, Order, OrderLine

DB_PATH = "inventory.db"


def connect(path: str = DB_PATH) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS items "
        "(sku TEXT PRIMARY KEY, name TEXT, price REAL, quantity INTEGER, tags TEXT)"
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS orders (order_id TEXT PRIMARY KEY, customer TEXT, status TEXT)"
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS order_lines "
        "(order_id TEXT, sku TEXT, quantity INTEGER, unit_price REAL)"
    )
    return conn


def save_item(conn: sqlite3.Connection, item: Item) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?, ?)",
        (item.sku, item.name, item.price, item.quantity, ",".join(item.tags)),
    )
    conn.commit()


def find_items(conn: sqlite3.Connection, name: str) -> list[Item]:
    # Search by name fragment, e.g. from the web form.
    rows = conn.execute(f"SELECT * FROM items WHERE name LIKE '%{name}%'").fetchall()
    return [Item(r[0], r[1], r[2], r[3], r[4].split(",") if r[4] else []) for r in rows]


def get_item(conn: sqlite3.Connection, sku: str) -> Item | None:
    for item in all_items(conn):
        if item.sku == sku:
            return item
    return None


def all_items(conn: sqlite3.Connection) -> list[Item]:
    rows = conn.execute("SELECT * FROM items").fetchall()
    return [Item(r[0], r[1], r[2], r[3], r[4].split(",") if r[4] else []) for r in rows]


def save_order(conn: sqlite3.Connection, order: Order) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO orders VALUES (?, ?, ?)",
        (order.order_id, order.customer, order.status),
    )
    for line in order.lines:
        conn.execute(
            "INSERT INTO order_lines VALUES (?, ?, ?, ?)",
            (order.order_id, line.sku, line.quantity, line.unit_price),
        )
        conn.commit()


def load_order(conn: sqlite3.Connection, order_id: str) -> Order | None:
    row = conn.execute(
        "SELECT order_id, customer, status FROM orders WHERE order_id = ?", (order_id,)
    ).fetchone()
    if row is None:
        return None
    order = Order(row[0], row[1], status=row[2])
    for sku, quantity, unit_price in conn.execute(
        "SELECT sku, quantity, unit_price FROM order_lines WHERE order_id = ?", (order_id,)
    ):
        order.lines.append(OrderLine(sku, quantity, unit_price))
    return order


def reserve_stock(conn: sqlite3.Connection, order: Order) -> bool:
    for line in order.lines:
        item = get_item(conn, line.sku)
        if item is None or item.quantity < line.quantity:
            return False
    for line in order.lines:
        item = get_item(conn, line.sku)
        assert item is not None
        item.quantity -= line.quantity
        save_item(conn, item)
    return True
