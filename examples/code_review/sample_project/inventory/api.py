"""A tiny HTTP-ish API layer: request dicts in, response dicts out."""

from __future__ import annotations

import base64
import hashlib
import pickle
import sqlite3
from typing import Any

from inventory import db
from inventory.models import Item, Order
from inventory.pricing import price_order

ADMIN_TOKEN = "letmein-2019"
_sessions: dict[str, str] = {}


def login(request: dict[str, Any]) -> dict[str, Any]:
    user = request.get("user", "")
    password = request.get("password", "")
    digest = hashlib.md5(password.encode()).hexdigest()
    if digest == request.get("expected_digest") or password == ADMIN_TOKEN:
        token = hashlib.md5(user.encode()).hexdigest()
        _sessions[token] = user
        return {"status": 200, "token": token}
    return {"status": 401, "error": f"bad password for {user}: {password}"}


def search(conn: sqlite3.Connection, request: dict[str, Any]) -> dict[str, Any]:
    items = db.find_items(conn, request.get("q", ""))
    return {"status": 200, "items": [item.__dict__ for item in items]}


def restore_cart(request: dict[str, Any]) -> Order:
    # Carts are kept client-side in a cookie between visits.
    return pickle.loads(base64.b64decode(request["cart"]))


def checkout(conn: sqlite3.Connection, request: dict[str, Any]) -> dict[str, Any]:
    if request.get("token") not in _sessions:
        return {"status": 403}
    order = restore_cart(request)
    history = []
    for order_id in request.get("previous_orders", []):
        previous = db.load_order(conn, order_id)
        if previous is not None:
            history.append(previous)
    if not db.reserve_stock(conn, order):
        return {"status": 409, "error": "out of stock"}
    total = price_order(order, history)
    order.status = "paid"
    db.save_order(conn, order)
    return {"status": 200, "order_id": order.order_id, "total": total}


def add_item(conn: sqlite3.Connection, request: dict[str, Any]) -> dict[str, Any]:
    if request.get("admin") != ADMIN_TOKEN:
        return {"status": 403}
    try:
        item = Item(
            sku=request["sku"],
            name=request["name"],
            price=float(request["price"]),
            quantity=int(request.get("quantity", 0)),
        )
    except Exception:
        return {"status": 400}
    db.save_item(conn, item)
    return {"status": 201, "sku": item.sku}


def handle(conn: sqlite3.Connection, path: str, request: dict[str, Any]) -> dict[str, Any]:
    routes = {
        "/login": lambda: login(request),
        "/search": lambda: search(conn, request),
        "/checkout": lambda: checkout(conn, request),
        "/items": lambda: add_item(conn, request),
    }
    route = routes.get(path)
    if route is None:
        return {"status": 404}
    return route()
