"""The WSGI entry point gunicorn loads in each worker process."""

from workflow_studio.worker.app import create_compute_worker

app = create_compute_worker()
