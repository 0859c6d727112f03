"""Schemathesis hooks for ``tests.contract.fuzz`` (loaded through ``SCHEMATHESIS_HOOKS``).

Two changes to what is sent, both keeping a case valid or invalid as it was generated:

- The fuzzer may revoke any key but its own: ``DELETE /v1/keys/{key_id}`` with the id of
  the key it authenticates with (it learns it from ``GET /v1/keys/self``) would turn every
  later request into a 401, so that one id is swapped for a well-formed id no key has (404).
- A valid ``?wait=S`` (0 to 30 s) is cut to at most ``MAX_WAIT`` seconds: a long-poll on a
  parked run answers only after its full wait, so uncut waits would spend the run's time
  budget asleep. Invalid values (negative, above 30, not a number) are sent as generated.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

OWN_KEY_ID = os.environ.get("FUZZ_KEY_ID", "")
UNKNOWN_KEY_ID = "key_00000000000000000000000000"
MAX_WAIT = 0.5


def _shorter(wait: Any) -> Any:
    try:
        seconds = float(wait)
    except (TypeError, ValueError):
        return wait
    return min(seconds, MAX_WAIT) if 0 <= seconds <= 30 else wait


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    parameters = case.path_parameters or {}
    if OWN_KEY_ID and parameters.get("key_id") == OWN_KEY_ID:
        parameters["key_id"] = UNKNOWN_KEY_ID
    query = case.query or {}
    if "wait" in query and not isinstance(query["wait"], list):
        query["wait"] = _shorter(query["wait"])
