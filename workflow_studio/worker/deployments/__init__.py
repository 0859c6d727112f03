"""The execution-plane half of deployments: verify and unpack uploads, prove they import,
and load a deployment's code into this process (``loader.load_deployment``), its steps
reading the named secrets it declares (``secrets.SecretStore``).

On-disk layout under ``worker.storage.artifact_dir``::

    <dpl_id>/manifest.json   the manifest as uploaded
    <dpl_id>/src/...         the verified members; the sys.path entry for its modules
    <dpl_id>/deps/...        its dependencies (members under ``.deps/``: unpacked wheels)
    .incoming-*/             a verification in progress (removed on any failure)
"""
