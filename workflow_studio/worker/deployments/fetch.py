"""Fetching a deployment onto a node that never received its upload (multi-node PostgreSQL).

The bytes come from ``deployment_artifacts``; they go through the very same verification as
an upload (``verify_and_unpack``: digests of the whole artifact and of every member, safe
paths, caps) and appear atomically as ``<artifact_dir>/<dpl_id>``. Two processes of one node
fetching at once both verify; the first rename wins and the second finds the directory there.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

from workflow_studio.storage import deployments as repo
from workflow_studio.worker.deployments.loader import MANIFEST_FILE, DeploymentLoadError, Fetcher
from workflow_studio.worker.deployments.verify import ArtifactRejected, Limits, verify_and_unpack

log = logging.getLogger("workflow_studio.deployments")


def database_fetcher(db: Any, settings: Any) -> Fetcher | None:
    """A fetch hook for ``load_deployment``/``ensure_unpacked``; None on SQLite (one node)."""
    if db.dialect != "postgres":
        return None
    limits = Limits(settings.max_artifact_bytes, settings.max_unpacked_bytes,
                    settings.max_artifact_files)

    def fetch(artifact_root: Path, deployment_id: str) -> None:
        stored = repo.artifact(db.connection(), deployment_id)
        if stored is None:
            raise DeploymentLoadError(f"deployment {deployment_id} has no stored artifact")
        manifest_raw, data = stored
        try:
            verify_and_unpack(manifest_raw, io.BytesIO(data), artifact_root, deployment_id,
                              limits)
        except ArtifactRejected as exc:
            raise DeploymentLoadError(f"stored artifact of {deployment_id} does not verify: "
                                      f"{exc.message}") from None
        except OSError:
            if not (Path(artifact_root) / deployment_id / MANIFEST_FILE).is_file():
                raise
            return  # another process of this node unpacked it first
        log.info("fetched deployment %s from the database (%d bytes)", deployment_id,
                 len(data))

    return fetch
