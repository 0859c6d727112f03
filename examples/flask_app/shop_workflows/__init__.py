"""The shop's workflow: price an order, reserve its stock, confirm it.

The same code runs in the app's process (local world) and on a worker (remote world); the
app only ever calls ``start(place_order, ...)``.
"""

from __future__ import annotations

from decimal import Decimal

import workflow_studio as ws

PRICES = {"apple": Decimal("0.50"), "pear": Decimal("0.75"), "melon": Decimal("3.00")}


@ws.step
def price_items(items: list[dict]) -> Decimal:
    total = Decimal("0")
    for item in items:
        if item["sku"] not in PRICES:
            raise ws.FatalError(f"unknown product {item['sku']!r}")
        total += PRICES[item["sku"]] * int(item["qty"])
    return total


@ws.step(max_retries=3, retry_delay=0.05)
def reserve_stock(order_id: str, items: list[dict]) -> list[str]:
    return [f"{order_id}:{item['sku']}x{item['qty']}" for item in items]


@ws.workflow
def place_order(order_id: str, items: list[dict]) -> dict:
    total = price_items(items)
    reservations = reserve_stock(order_id, items)
    return {"orderId": order_id, "total": str(total), "reservations": reservations,
            "status": "confirmed"}
