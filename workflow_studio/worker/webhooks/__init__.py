"""Inbound webhooks: provider signature checks, de-duplication, dispatch."""
