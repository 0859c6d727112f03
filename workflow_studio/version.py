"""The package version, kept in one place so the CLI, health route and builds agree."""

__version__ = "0.1.0"
