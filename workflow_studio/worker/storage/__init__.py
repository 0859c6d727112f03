"""The thin repository layer: SQL lives only in this package, one module per concern."""

from workflow_studio.worker.storage.database import (
    Connection,
    Database,
    DatabaseUnavailable,
    open_database,
)

__all__ = ["Connection", "Database", "DatabaseUnavailable", "open_database"]
