"""App-side fixtures: a real threaded app server (werkzeug) serving a Flask app that mounts
the Workflow Studio extension, on a free loopback port."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from workflow_studio.integrations.flask import WorkflowStudio


class AppServer:
    """A WSGI app served on 127.0.0.1 by werkzeug in a background thread."""

    def __init__(self, app: Any) -> None:
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def flask_app(diagnostics_dir: Path) -> Flask:
    app = Flask("tiny_app")

    @app.get("/")
    def index() -> str:
        return "hello from the app"

    WorkflowStudio(app, directory=diagnostics_dir)
    return app


@pytest.fixture
def diagnostics_dir(tmp_path: Path) -> Path:
    return tmp_path / "diagnostics"


@pytest.fixture
def serve() -> Iterator[Callable[[Any], AppServer]]:
    started: list[AppServer] = []

    def start(app: Any) -> AppServer:
        server = AppServer(app)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def app_server(serve: Callable[[Any], AppServer], diagnostics_dir: Path) -> AppServer:
    """The tiny Flask app with the extension, served for real."""
    return serve(flask_app(diagnostics_dir))
