"""A small Flask shop that runs its order workflow through ``start()``.

``POST /orders`` starts ``place_order`` (idempotent per order id); ``GET /orders/<run_id>``
shows the run's status and result (``?wait=5`` waits for it to finish). Which world runs the
workflow is chosen by environment variables only (see README.md).

Run it: ``python app.py`` (``PORT``, default 5000; 0 picks a free port). It prints
``listening on http://HOST:PORT`` once it accepts requests.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from flask import Flask, jsonify, request
from shop_workflows import place_order
from werkzeug.serving import make_server

import workflow_studio as ws
from workflow_studio.integrations.flask import WorkflowStudio


def create_app() -> Flask:
    app = Flask(__name__)
    WorkflowStudio(app)  # /.well-known/workflow/v1/diagnostics

    @app.post("/orders")
    def create_order() -> Any:
        data = request.get_json(silent=True) or {}
        order_id, items = data.get("orderId"), data.get("items")
        if not isinstance(order_id, str) or not isinstance(items, list) or not items:
            return jsonify(error="send {\"orderId\": \"...\", \"items\": [...]}"), 400
        starter = ws.start_with(idempotency_key=f"order-{order_id}")  # same order, same run
        run = starter.start(place_order, order_id, items)
        return jsonify(runId=run.id, status=run.status()), 202

    @app.get("/orders/<run_id>")
    def show_order(run_id: str) -> Any:
        run = ws.get_run(run_id)
        wait = min(float(request.args.get("wait", 0)), 30.0)
        try:
            status = run.status()
        except LookupError:
            return jsonify(error=f"no order run {run_id}"), 404
        if wait:
            status = run.wait(wait)
        body: dict[str, Any] = {"runId": run_id, "status": status, "result": None,
                                "error": None}
        if status == "completed":
            body["result"] = run.result(timeout=0)
        elif status == "failed":
            body["error"] = run.info().get("error", {}).get("message")
        return jsonify(body)

    return app


def main() -> None:
    server = make_server(os.environ.get("HOST", "127.0.0.1"),
                         int(os.environ.get("PORT", "5000")), create_app(), threaded=True)
    print(f"listening on http://{server.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
