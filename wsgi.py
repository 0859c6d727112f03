"""WSGI entry point for running this checkout with plain gunicorn: ``gunicorn wsgi:app``."""

from workflow_studio.worker.wsgi import app

__all__ = ["app"]
