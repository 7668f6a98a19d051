"""What a DAG promises the outside, declared in its flow module beside its steps: its id, what
starts it (a REST trigger and its Params, a backend event, a schedule), what it answers and its
PowerApps action. ``support_flows.authoring.catalog`` lists the contracts and derives the rest
(the DAGs' arguments, the REST guard, the event watcher, the connector, the docs' tables).

Kept free of imports beyond the standard library: a DAG file reads its contract while it is parsed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Schedule:
    """A scheduled DAG's cron: from the environment variable ``variable`` (a schedule is fixed at
    parse time, so never a Variable), else ``default``; in the support centre's time zone."""

    variable: str
    default: str


def _every_event(event: dict) -> bool:
    return True


@dataclass(frozen=True)
class EventStart:
    """How a backend event type starts the flow: which of its events are for it (``when``: e.g. not
    a ticket PowerApps created itself, which started a run already) and the conf the run gets
    (``conf(event, api)``: references, never the customer's words)."""

    conf: Callable[[dict, Any], dict]
    when: Callable[[dict], bool] = _every_event


@dataclass(frozen=True)
class FlowContract:
    dag_id: str
    flow: str  # the seed's flow and what this DAG does of it, as the README's table says it
    kind: Literal["event", "scheduled", "continuous"]
    starts: str  # what starts a run, in words
    returns: str  # what its outputs hold, in words
    flow_tags: tuple[str, ...]  # flow-N tags, so the UI can filter by flow
    extra_tags: tuple[str, ...] = ()
    params: Callable[[], dict[str, Any]] | None = None  # the REST payload (Airflow Params); None: no conf
    # the fields PowerApps reads from the run's result, each a JSON schema (core.outcomes.field)
    outcome: Mapping[str, dict] | None = None
    powerapps_action: tuple[str, str] | None = None  # (operationId, summary) in the connector
    powerapps: bool = False  # may the PowerApps role trigger it and read its runs
    # the backend event types that start it (operations.events watches the feed for them)
    events: Mapping[str, EventStart] = field(default_factory=dict)
    schedule: Schedule | None = None

    def fresh_params(self) -> dict[str, Any]:
        """The DAG's Params, new objects each time (a Param is not shared between DAGs); {} without."""
        return self.params() if self.params else {}

    @property
    def tags(self) -> list[str]:
        return ["support", *self.flow_tags, self.kind, *self.extra_tags]
