"""The worker's marshmallow schemas: what each route accepts, one module per route group."""
