"""The execution-plane half of deployments: verify and unpack uploads, prove they import,
and load a deployment's code into this process (``loader.load_deployment``).

On-disk layout under ``worker.storage.artifact_dir``::

    <dpl_id>/manifest.json   the manifest as uploaded
    <dpl_id>/src/...         the verified members; the sys.path entry for its modules
    .incoming-*/             a verification in progress (removed on any failure)
"""
