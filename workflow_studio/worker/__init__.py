"""The compute worker: a Flask WSGI app served by gunicorn (control and execution plane)."""

from workflow_studio.worker.app import create_app, create_compute_worker
from workflow_studio.worker.server import WorkerServer, start_compute_worker_server

__all__ = ["WorkerServer", "create_app", "create_compute_worker", "start_compute_worker_server"]
