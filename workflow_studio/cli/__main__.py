"""``python -m workflow_studio.cli`` runs the same command as ``workflow-studio``."""

from workflow_studio.cli import main

main()
