"""The retry policy every outside call shares: a few quick attempts inside the client for
transient failures (connection errors, timeouts, 5xx), with exponential backoff that honours
``Retry-After``. Longer outages are the task's ``retries`` business, not this loop's.

Throttling (429) is no failure: the service is up and says when to come back. It does not use
up an attempt; the call waits as long as ``Retry-After`` says, up to ``throttle_budget`` seconds
in all (a task must still end), and only then gives up like any other transient failure."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class TransientError(Exception):
    """A failure worth another attempt; ``retry_after`` is the server's wish in seconds, if any;
    ``throttled``: the server is up and asks us to slow down (429), so the wait uses no attempt.
    ``unsure``: the request may have been done (a time-out or 5xx after it was sent)."""

    def __init__(
        self, message: str, retry_after: float | None = None, *, throttled: bool = False, unsure: bool = False
    ):
        super().__init__(message)
        self.retry_after, self.throttled, self.unsure = retry_after, throttled, unsure


@dataclass(frozen=True)
class CallRetryPolicy:
    """How one outside call is retried inside the client (not Airflow's ``airflow.sdk.RetryPolicy``,
    which decides a task's retries). ``base_delay`` may be a function, asked at the first retry: a
    task reads the setting behind it (a round trip to the API server) only when a call fails."""

    attempts: int = 3
    base_delay: float | Callable[[], float] = 1.0
    max_delay: float = 30.0
    jitter: float = 0.1
    throttle_budget: float = 600.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        base = self.base_delay() if callable(self.base_delay) else self.base_delay
        backoff = base * 2 ** (attempt - 1)
        return min(backoff * (1 + random.uniform(0, self.jitter)), self.max_delay)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either a number or an HTTP date."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def call_with_retries(
    call: Callable[[], T],
    *,
    what: str,
    policy: CallRetryPolicy,
    give_up: Callable[[TransientError, int], Exception],
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``call``; on ``TransientError`` wait and try again, up to ``policy.attempts`` in all.

    When the last attempt fails, ``give_up(error, attempts)`` builds the exception raised instead.
    A throttled answer waits its ``Retry-After`` without using an attempt, within ``throttle_budget``.
    """
    attempt, throttled_for = 1, 0.0
    while True:
        try:
            return call()
        except TransientError as err:
            if err.throttled:
                wait = max(err.retry_after if err.retry_after is not None else policy.delay(1), 0.0)
                if throttled_for + wait <= policy.throttle_budget:
                    throttled_for += wait
                    log.info("%s throttled: waiting %.1fs as asked (%.0fs so far)", what, wait, throttled_for)
                    sleep(wait)
                    continue
            if attempt >= policy.attempts:
                raise give_up(err, attempt) from err
            wait = policy.delay(attempt, err.retry_after)
            log.warning(
                "%s failed (attempt %d of %d): %s; retrying in %.1fs", what, attempt, policy.attempts, err, wait
            )
            sleep(wait)
            attempt += 1
