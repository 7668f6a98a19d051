"""Fault injection: the next ``times`` requests matching a rule fail the way the rule says.

A rule: ``{"path": "<regex>", "method": "POST", "status": 503, "times": 2, "delay_s": 0,
"retry_after": null, "body": null, "accept": false}``. ``status`` omitted with ``delay_s`` set: the
request is only slowed, then served. ``body`` set: that raw body is answered with status 200 (a
malformed reply). ``accept``: the request is done first (Graph took the mail, created the task) and
only its answer fails: held ``delay_s`` (past the client's timeout, it times out) and then answered
with ``status`` (504 unless given); what a client that retries blindly turns into a duplicate.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import asdict, dataclass

from flask import Response, jsonify

ALLOWED_KEYS = {"path", "method", "status", "times", "delay_s", "retry_after", "body", "accept"}


@dataclass
class FaultRule:
    path: str
    method: str | None = None
    status: int | None = 503
    times: int = 1
    delay_s: float = 0.0
    retry_after: float | None = None
    body: str | None = None
    accept: bool = False

    @classmethod
    def parse(cls, raw: object, index: int) -> FaultRule:
        if not isinstance(raw, dict):
            raise ValueError(f"rules[{index}]: expected an object")
        unknown = set(raw) - ALLOWED_KEYS
        if unknown:
            raise ValueError(f"rules[{index}].{sorted(unknown)[0]}: unknown field")
        if not isinstance(raw.get("path"), str):
            raise ValueError(f"rules[{index}].path: is required (a regular expression)")
        try:
            re.compile(raw["path"])
        except re.error as err:
            raise ValueError(f"rules[{index}].path: invalid regular expression: {err}") from err
        accept = raw.get("accept", False)
        if not isinstance(accept, bool):
            raise ValueError(f"rules[{index}].accept: must be true or false")
        rule = cls(
            path=raw["path"],
            method=(raw.get("method") or None) and str(raw["method"]).upper(),
            status=raw.get("status", 504 if accept else 503 if not raw.get("delay_s") else None),
            accept=accept,
            times=int(raw.get("times", 1)),
            delay_s=float(raw.get("delay_s") or 0),
            retry_after=raw.get("retry_after"),
            body=raw.get("body"),
        )
        if rule.times < 1:
            raise ValueError(f"rules[{index}].times: must be at least 1")
        if rule.status is not None and not 100 <= int(rule.status) <= 599:
            raise ValueError(f"rules[{index}].status: must be an HTTP status")
        if rule.accept and (rule.status is None or int(rule.status) < 500):
            raise ValueError(f"rules[{index}].status: a fault that accepts answers 5xx after the delay")
        return rule


class FaultBook:
    """The active rules, shared by all request threads."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(self, rules: list[FaultRule]) -> None:
        with self._lock:
            self._rules.extend(rules)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def active(self) -> list[dict]:
        with self._lock:
            return [asdict(rule) for rule in self._rules]

    def take(self, method: str, path: str) -> FaultRule | None:
        """The first rule that matches this request, used up once."""
        with self._lock:
            for rule in self._rules:
                if (rule.method in (None, method)) and re.search(rule.path, path):
                    rule.times -= 1
                    if rule.times <= 0:
                        self._rules.remove(rule)
                    return rule
        return None

    def answer(self, rule: FaultRule | None, *, graph: bool = False) -> Response | None:
        """What ``rule`` answers: after its delay, its error or body (None: serve the request)."""
        if rule is None:
            return None
        if rule.delay_s:
            time.sleep(rule.delay_s)
        if rule.body is not None:
            return Response(rule.body, status=200, mimetype="application/json")
        if rule.status is None:
            return None
        if graph:
            from mock_backend.graph import graph_error_response

            code = {429: "TooManyRequests", 504: "GatewayTimeout"}.get(int(rule.status), "InjectedFault")
            response = graph_error_response(int(rule.status), code, f"injected fault: {rule.status}")
        else:
            response = jsonify(error=f"injected fault: {rule.status}", field=None)
        response.status_code = int(rule.status)
        if rule.retry_after is not None:
            response.headers["Retry-After"] = str(rule.retry_after)
        return response
