"""The thin repository layer: SQL lives only in this package, one module per concern."""

from workflow_studio.storage.base import (
    Connection,
    DatabaseUnavailable,
    IntegrityError,
    InvalidInput,
    Row,
)
from workflow_studio.storage.database import Database, open_database

__all__ = ["Connection", "Database", "DatabaseUnavailable", "IntegrityError", "InvalidInput",
           "Row", "open_database"]
