"""schemathesis hooks for the live connector run (SCHEMATHESIS_HOOKS=schemathesis_hooks): in the
default test run the one call's ``wait_seconds`` is held to at most 2 s, so a generated request
that starts a run answers 202 at once instead of waiting up to 100 s for a busy shared stack (the
answer's schema is checked all the same; the 200 with an outcome is the other connector tests'
business). `dev.py test --fuzz` runs without these hooks, waits included."""

from __future__ import annotations

import schemathesis

LONGEST_WAIT_S = 2


@schemathesis.hook
def map_query(context, query):
    query = {} if query is None else query
    value = query.get("wait_seconds")
    if (
        value is None or isinstance(value, int) and not isinstance(value, bool) and value > LONGEST_WAIT_S
    ):  # left out (a negative case): the API would wait its default 20 s
        query["wait_seconds"] = LONGEST_WAIT_S
    return query
