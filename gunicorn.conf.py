"""gunicorn config for this checkout; the settings live in the package so installs share them.

``gunicorn -c gunicorn.conf.py`` is the same as ``workflow-studio worker start`` minus its
pre-flight checks (config validation, migrations, first admin key).
"""

from workflow_studio.worker.gunicorn_conf import *  # noqa: F403
