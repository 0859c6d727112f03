"""The world proxy's server side: applying events through the engine's repositories
(``events.py``) and cursor pagination over the world's tables (``pages.py``)."""
