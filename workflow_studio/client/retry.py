"""When and how long the client retries: only where repeating the request is safe.

Safe means: the request never reached the worker (connection refused), or it is a read, or
it is a POST carrying an Idempotency-Key the worker de-duplicates. Delays grow
exponentially with full jitter (so many clients do not retry in lockstep) and honour
``Retry-After``.
"""

from __future__ import annotations

import dataclasses
import random

RETRY_STATUSES = frozenset({429, 502, 503, 504})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4          # total tries, the first included
    base_delay: float = 0.2    # seconds before the first retry (before jitter)
    max_delay: float = 5.0     # cap per wait
    max_retry_after: float = 30.0  # never sleep longer than this for a Retry-After

    def may_retry(self, method: str, has_idempotency_key: bool, *, status: int | None = None,
                  connect_failed: bool = False) -> bool:
        """Whether a failure of this kind may be repeated."""
        if connect_failed:
            return True  # nothing reached the worker
        safe = method.upper() in SAFE_METHODS or has_idempotency_key
        if status is None:
            return safe  # read timeout / dropped connection: only if repeating is harmless
        if status == 429:
            return True  # the worker refused before doing anything
        return status in RETRY_STATUSES and safe

    def delay(self, attempt: int, retry_after: float | None = None,
              rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return (rng or random).uniform(0, ceiling)


NO_RETRY = RetryPolicy(attempts=1)
