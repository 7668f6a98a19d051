"""What a DAG promises the outside, declared in its flow module beside its steps: its id, what
starts it (a REST trigger and its Params, a backend event, a schedule), what it answers and its
PowerApps action. ``support_flows.authoring.catalog`` lists the contracts and derives the rest
(the DAGs' arguments, the REST guard, the event watcher, the connector, the docs' tables).

A DAG file reads its contract while it is parsed, in a fresh process per parse, so this module is
kept cheap to import: the standard library only, and plain classes with ``__slots__``. A frozen
dataclass or a NamedTuple compiles methods or annotations when the class is made: 2 to 4 ms of
every parse for these three records (bench/parse_cost.py), against well under one for these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Literal


class Schedule:
    """A scheduled DAG's cron: from the environment variable ``variable`` (a schedule is fixed at
    parse time, so never a Variable), else ``default``; in the support centre's time zone."""

    __slots__ = ("variable", "default")

    def __init__(self, variable: str, default: str) -> None:
        self.variable = variable
        self.default = default


def _every_event(event: dict) -> bool:
    return True


class EventStart:
    """How a backend event type starts the flow: which of its events are for it (``when``: e.g. not
    a ticket PowerApps created itself, which started a run already) and the conf the run gets
    (``conf(event, api)``: references, never the customer's words)."""

    __slots__ = ("conf", "when")

    def __init__(self, conf: Callable[[dict, Any], dict], when: Callable[[dict], bool] = _every_event) -> None:
        self.conf = conf
        self.when = when


class FlowContract:
    """One DAG's promises. ``flow``: the seed's flow and what this DAG does of it, as the README's
    table says it; ``starts``/``returns``: what starts a run and what its outputs hold, in words;
    ``flow_tags``: flow-N tags, so the UI can filter by flow; ``params``: the REST payload (a function
    returning Airflow Params; None: no conf); ``outcome``: the fields PowerApps reads from the run's
    result, each a JSON schema (``core.outcomes.field``); ``powerapps_action``: (operationId, summary)
    in the connector; ``powerapps``: may the PowerApps role trigger it and read its runs; ``events``:
    the backend event types that start it (``operations.events`` watches the feed for them)."""

    __slots__ = (
        "dag_id",
        "flow",
        "kind",
        "starts",
        "returns",
        "flow_tags",
        "extra_tags",
        "params",
        "outcome",
        "powerapps_action",
        "powerapps",
        "events",
        "schedule",
    )

    def __init__(
        self,
        dag_id: str,
        flow: str,
        kind: Literal["event", "scheduled", "continuous"],
        starts: str,
        returns: str,
        flow_tags: tuple[str, ...],
        extra_tags: tuple[str, ...] = (),
        params: Callable[[], dict[str, Any]] | None = None,
        outcome: Mapping[str, dict] | None = None,
        powerapps_action: tuple[str, str] | None = None,
        powerapps: bool = False,
        events: Mapping[str, EventStart] = MappingProxyType({}),
        schedule: Schedule | None = None,
    ) -> None:
        self.dag_id = dag_id
        self.flow = flow
        self.kind = kind
        self.starts = starts
        self.returns = returns
        self.flow_tags = flow_tags
        self.extra_tags = extra_tags
        self.params = params
        self.outcome = outcome
        self.powerapps_action = powerapps_action
        self.powerapps = powerapps
        self.events = events
        self.schedule = schedule

    def __repr__(self) -> str:
        return f"FlowContract({self.dag_id!r})"

    def fresh_params(self) -> dict[str, Any]:
        """The DAG's Params, new objects each time (a Param is not shared between DAGs); {} without."""
        return self.params() if self.params else {}

    @property
    def tags(self) -> list[str]:
        return ["support", *self.flow_tags, self.kind, *self.extra_tags]
