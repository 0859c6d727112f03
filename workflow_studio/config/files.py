"""Finding and running ``workflow_config.py``. Any error in it, ours or Python's, becomes one
``ConfigError`` line that starts with the file's name (and line, when Python knows it)."""

from __future__ import annotations

import importlib.util
import os
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path

from workflow_studio.config.model import CONFIG_ENV, ConfigError, WorkflowStudioConfig

CONFIG_FILENAME = "workflow_config.py"


def find_config_file(explicit: str | None = None,
                     environ: Mapping[str, str] | None = None) -> Path | None:
    """The config file: ``explicit``, ``$WORKFLOW_STUDIO_CONFIG`` or ./workflow_config.py."""
    chosen = explicit or (os.environ if environ is None else environ).get(CONFIG_ENV)
    if chosen:
        path = Path(chosen)
        if not path.is_file():
            raise ConfigError(f"config file {chosen}: not found or not a file")
        return path.resolve()
    default = Path.cwd() / CONFIG_FILENAME
    return default.resolve() if default.is_file() else None


def read_config_file(path: Path) -> WorkflowStudioConfig:
    """Execute ``path`` and return the config it declares (its ``config`` variable)."""
    spec = importlib.util.spec_from_file_location("workflow_config", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"config file {path}: cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))  # the file may import the project's own modules
    try:
        spec.loader.exec_module(module)
    except ConfigError as exc:
        raise ConfigError(f"{path.name}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot be read ({exc.strerror})") from None
    except SyntaxError as exc:
        raise ConfigError(f"{path.name}:{exc.lineno}: SyntaxError: {exc.msg}") from None
    except Exception as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        raise ConfigError(f"{path.name}:{frame.lineno}: {type(exc).__name__}: {exc}") from None
    finally:
        if sys.path and sys.path[0] == str(path.parent):
            sys.path.pop(0)
    found = [v for v in vars(module).values() if isinstance(v, WorkflowStudioConfig)]
    if not found:
        raise ConfigError(
            f"{path.name}: declares no config (expected `config = define_config(...)`)")
    return found[0]
