"""The thin repository layer: SQL lives only in this package, one module per concern."""

from workflow_studio.storage.base import (
    Connection,
    DatabaseBusy,
    DatabaseUnavailable,
    IntegrityError,
    InvalidInput,
    Params,
    Row,
)
from workflow_studio.storage.database import Database, DatabaseSettings, open_database

__all__ = ["Connection", "Database", "DatabaseBusy", "DatabaseSettings", "DatabaseUnavailable",
           "IntegrityError", "InvalidInput", "Params", "Row", "open_database"]
