"""The durable execution engine: replay (``replay``), step attempts (``attempts``), claimed
messages (``runner``), the slots that claim them (``executor``) and the world operations the
API and the local world share (``service``)."""
