"""Build tooling: turn a project's workflow packages into a verified deployment artifact.

``collect`` runs in a clean subprocess (it imports user code); ``archive`` writes the
reproducible tarball; ``project`` ties them to ``workflow_config.py`` and writes the manifest.
This ``__init__`` stays import-free so ``python -m workflow_studio.builder.collect`` starts fast.
"""
