"""Exchange Online's sending limits and the Outlook service's throttling, per sender mailbox, as
Microsoft publishes them (docs/mock.md cites the pages):

- **message rate**: 30 messages a minute. More are accepted (202) and wait in the Outbox; each
  leaves it at the first moment the rate allows (``/_mock/mail`` shows when).
- **recipient rate**: 10,000 recipients in any 24 hours, To, Cc and Bcc counted, a recipient
  counted again for every message. Past it a message is accepted but not delivered: a non-delivery
  report (``550 5.2.2 ... SubmissionQuotaExceededException``) lands in the sender's mailbox
  (``/_mock/inbox``).
- **concurrency**: 4 requests in flight per mailbox; the 5th is answered 429 ``ApplicationThrottled``
  ("over its MailboxConcurrency limit") with ``Retry-After``.
- **request rate**: 10,000 requests per mailbox in 10 minutes; past it 429 ``ApplicationThrottled``
  with ``Retry-After`` = until the oldest request leaves the window.

On by default. ``MOCK_EXCHANGE_LIMITS`` (``name=value,...``) or ``PUT /_mock/limits`` make them
smaller or faster for a test: ``time_scale`` 24 runs a day in an hour (every window 24 times shorter).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, fields, replace
from urllib.parse import unquote

_MAILBOX_PATH = re.compile(r"^/graph/v1\.0/users/([^/]+)/.+")
MINUTE_S, TEN_MINUTES_S, DAY_S = 60.0, 600.0, 86_400.0


@dataclass(frozen=True)
class Limits:
    messages_per_minute: int = 30
    recipients_per_day: int = 10_000
    concurrent_requests: int = 4
    requests_per_10_minutes: int = 10_000
    time_scale: float = 1.0  # how many times faster the windows pass (24: a day in an hour)
    concurrency_retry_after_s: float = 1.0

    @classmethod
    def parse(cls, raw: dict, base: Limits | None = None) -> Limits:
        """``raw`` over ``base`` (the defaults); ValueError naming a field that is unknown or not positive."""
        known = {f.name: f.type for f in fields(cls)}
        changes: dict = {}
        for name, value in raw.items():
            if name not in known:
                raise ValueError(f"{name}: unknown limit (known: {', '.join(known)})")
            number = float(value) if known[name] == "float" else int(value)
            if isinstance(value, bool) or number <= 0:
                raise ValueError(f"{name}: must be a positive number")
            changes[name] = number
        return replace(base or cls(), **changes)

    @classmethod
    def from_env(cls) -> Limits:
        text = os.environ.get("MOCK_EXCHANGE_LIMITS", "").strip()
        pairs = (item.split("=", 1) for item in text.split(",") if item.strip())
        return cls.parse({name.strip(): value.strip() for name, value in pairs})

    def seconds(self, window: float) -> float:
        return window / self.time_scale


class Exchange:
    """Each sender mailbox's requests in flight, request times, Outbox and recipients sent.
    Shared by the request threads of one mock; ``reset`` forgets everything."""

    def __init__(self, limits: Limits | None = None) -> None:
        self._lock = threading.Lock()
        self.reset(limits)

    def reset(self, limits: Limits | None = None) -> None:
        with self._lock:
            self.limits = limits or Limits.from_env()
            self._in_flight: Counter[str] = Counter()
            self._requests: dict[str, deque[float]] = {}
            self._departures: dict[str, deque[float]] = {}
            self._recipients: dict[str, deque[tuple[float, int]]] = {}

    def describe(self) -> dict:
        return asdict(self.limits)

    # --- requests ------------------------------------------------------------------------------------

    def enter(self, path: str) -> tuple[str | None, tuple[str, float] | None]:
        """The mailbox whose slot this request holds (release it with ``leave``), or why it is
        throttled and after how many seconds to retry."""
        match = _MAILBOX_PATH.match(path)
        if not match:
            return None, None
        mailbox = unquote(match.group(1)).lower()
        now = time.time()
        limits = self.limits
        with self._lock:
            if self._in_flight[mailbox] >= limits.concurrent_requests:
                return None, ("Application is over its MailboxConcurrency limit.", limits.concurrency_retry_after_s)
            window = limits.seconds(TEN_MINUTES_S)
            recent = self._requests.setdefault(mailbox, deque())
            while recent and recent[0] <= now - window:
                recent.popleft()
            if len(recent) >= limits.requests_per_10_minutes:
                wait = max(recent[0] + window - now, 0.001)
                return None, (
                    f"Application is over its limit of {limits.requests_per_10_minutes} requests per 10 minutes"
                    " for this mailbox.",
                    wait,
                )
            recent.append(now)
            self._in_flight[mailbox] += 1
        return mailbox, None

    def leave(self, mailbox: str) -> None:
        with self._lock:
            self._in_flight[mailbox] -= 1
            if self._in_flight[mailbox] <= 0:
                del self._in_flight[mailbox]

    # --- sending -------------------------------------------------------------------------------------

    def submit(self, mailbox: str, recipients: int) -> tuple[float, bool]:
        """A message to ``recipients`` addresses leaves ``mailbox``: when it leaves the Outbox (epoch
        seconds) and whether it is delivered (False: past the recipient rate, a non-delivery report)."""
        mailbox = mailbox.lower()
        now = time.time()
        limits = self.limits
        with self._lock:
            day = limits.seconds(DAY_S)
            sent = self._recipients.setdefault(mailbox, deque())
            while sent and sent[0][0] <= now - day:
                sent.popleft()
            if sum(n for _, n in sent) + recipients > limits.recipients_per_day:
                return now, False
            sent.append((now, recipients))
            # at most messages_per_minute departures in any window of a minute: the next one
            # leaves when the one that many places back is a minute old
            minute = limits.seconds(MINUTE_S)
            departures = self._departures.setdefault(mailbox, deque())
            while departures and departures[0] <= now - minute:
                departures.popleft()
            leaves = now
            if len(departures) >= limits.messages_per_minute:
                leaves = max(now, departures[-limits.messages_per_minute] + minute)
            departures.append(leaves)
            return leaves, True
