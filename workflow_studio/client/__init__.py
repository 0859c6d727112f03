"""The HTTP client SDK for the worker's API (``ComputeClient``) and its error classes."""

from workflow_studio.client.client import ComputeClient
from workflow_studio.client.errors import *  # noqa: F403
from workflow_studio.client.errors import ComputeClientError, error_from_response
from workflow_studio.client.world import RemoteWorld

__all__ = ["ComputeClient", "ComputeClientError", "RemoteWorld", "error_from_response"]
