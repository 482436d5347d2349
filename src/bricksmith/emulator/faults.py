"""Injected faults: the flaky network and throttling a client must survive.

A :class:`FaultPolicy` says how often a request fails and how. Faults are decided *before* a
request is processed, so a failed request changes nothing and the client may simply retry it.
The exceptions are ``drop_after_rate``: a ``jobs/runs/submit`` (or a route named in
``drop_after_on``) that was processed and whose answer is then lost, the case idempotency
tokens exist for; and ``error_after_rate``: any request that was processed and whose answer a
gateway then replaces with a 502 or 504 page (the client cannot tell it from one that never
reached the workspace).

Kinds "500", "502", "504" are what a gateway (or a workspace in trouble) answers: 500 as the
workspace does (JSON ``INTERNAL_ERROR``), 502 and 504 as an HTML page of the proxy in front of
it. databricks-sdk does not retry these (``_base_client.py`` ``_is_retryable``): the client must.
They are not among the default kinds.

databricks-sdk retries 429 and 503 after ``Retry-After`` seconds plus up to one second of
jitter; it reads the header as an integer only (anything else counts as 1 s), so
``retry_after_s=0`` is the fastest setting. It retries a dropped connection after
``min(10, attempt)`` seconds plus jitter.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

KINDS = ("429", "503", "drop", "500", "502", "504")
DEFAULT_KINDS = ("429", "503", "drop")  # what the SDK retries by itself


@dataclass(frozen=True)
class FaultPolicy:
    rate: float = 0.0  # share of requests (0..1) that fail before being processed
    kinds: tuple[str, ...] = DEFAULT_KINDS  # drawn from uniformly; any of KINDS
    retry_after_s: int = 1  # the Retry-After header of 429 and 503 answers
    latency_ms: float = 0.0  # added to every request
    seed: int | None = None  # for a reproducible sequence of faults
    drop_after_rate: float = 0.0  # share of runs/submit answers lost after processing
    max_faults: int | None = None  # stop injecting after this many (e.g. 1: only the first)
    error_after_rate: float = 0.0  # share of processed requests answered 502/504 nonetheless
    # further routes ("METHOD /api/path") whose answers drop_after_rate may lose after they
    # were processed, e.g. ("POST /api/2.0/dbfs/add-block",): a retried block lands twice
    drop_after_on: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("rate", "drop_after_rate", "error_after_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"FaultPolicy.{name} must be between 0 and 1, got {value}")
        unknown = set(self.kinds) - set(KINDS)
        if unknown or not self.kinds:
            raise ValueError(f"FaultPolicy.kinds must be some of {KINDS}, got {self.kinds}")
        if self.retry_after_s < 0 or self.latency_ms < 0:
            raise ValueError("FaultPolicy.retry_after_s and latency_ms cannot be negative")


class FaultInjector:
    """Draws the faults of a policy; thread-safe, and reproducible for a given seed and
    order of requests."""

    def __init__(self, policy: FaultPolicy) -> None:
        self.policy = policy
        self._random = random.Random(policy.seed)
        self._lock = threading.Lock()
        self._injected = 0

    def _draw(self, rate: float) -> bool:
        """Whether to inject a fault at ``rate``; call with the lock held."""
        if rate <= 0:
            return False
        limit = self.policy.max_faults
        if limit is not None and self._injected >= limit:
            return False
        if self._random.random() >= rate:
            return False
        self._injected += 1
        return True

    def before(self) -> str | None:
        """The fault for the next request ("429", "503", "drop"), or None."""
        if self.policy.rate <= 0:
            return None
        with self._lock:
            if not self._draw(self.policy.rate):
                return None
            return self._random.choice(self.policy.kinds)

    def error_after(self) -> str | None:
        """The gateway error ("502" or "504") replacing a processed request's answer, or None."""
        if self.policy.error_after_rate <= 0:
            return None
        with self._lock:
            if not self._draw(self.policy.error_after_rate):
                return None
            return self._random.choice(("502", "504"))

    def drop_after_submit(self) -> bool:
        with self._lock:
            return self._draw(self.policy.drop_after_rate)
