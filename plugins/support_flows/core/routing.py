"""Routing by skill, language and group: which agent suits a ticket best. An agent carries skills
(the topics they handle), languages and a group in the backend; a ticket its topic (the contact
reason) and language (from the request or the AI check). The order, best first:

1. ``skill_and_language``: the topic is among the agent's skills and they speak the ticket's language;
2. ``group_and_language``: they speak it and are in the topic's group (``routing_groups``);
3. ``language``: they speak it;
4. ``skill``: the topic is among their skills (nobody with room speaks the language);
5. ``group``: they are in the topic's group;
6. ``any``: anyone with room.

A ticket without a language is taken as English; one without a topic matches by language only.
Capacity is never exceeded (the caller offers only agents with room)."""

from __future__ import annotations

import json
from typing import Any

MATCHES = ("skill_and_language", "group_and_language", "language", "skill", "group", "any")
DEFAULT_LANGUAGE = "en"


def groups_of(text: str) -> dict[str, str]:
    """``routing_groups`` (JSON ``{"group": ["topic", ...]}``) as topic -> group; a clear error otherwise."""
    if not text.strip():
        return {}
    try:
        groups = json.loads(text)
        if not isinstance(groups, dict) or not all(
            isinstance(g, str) and isinstance(ts, list) and all(isinstance(t, str) for t in ts)
            for g, ts in groups.items()
        ):
            raise ValueError('expected {"group": ["topic", ...], ...}')
    except ValueError as err:
        from support_flows.core.settings import SettingsError

        raise SettingsError(f"Variable support_routing_groups: {err}") from None
    return {topic: group for group, topics in groups.items() for topic in topics}


def match(ticket: dict, agent: dict, topic_groups: dict[str, str]) -> int:
    """How well ``agent`` suits ``ticket``: an index into ``MATCHES`` (0 is best)."""
    topic = ticket.get("topic")
    speaks = (ticket.get("language") or DEFAULT_LANGUAGE) in (agent.get("languages") or [DEFAULT_LANGUAGE])
    skilled = topic is not None and topic in (agent.get("skills") or [])
    grouped = topic in topic_groups and agent.get("group") == topic_groups[topic]
    if skilled and speaks:
        return 0
    if grouped and speaks:
        return 1
    if speaks:
        return 2
    if skilled:
        return 3
    if grouped:
        return 4
    return 5


def describe(ticket: dict, agent: dict, level: int) -> str:
    """The match in words, for a note on the ticket."""
    topic, language = ticket.get("topic"), ticket.get("language") or DEFAULT_LANGUAGE
    what = {
        0: f"handles {topic} and speaks {language}",
        1: f"is in the {topic} group and speaks {language}",
        2: f"speaks {language}",
        3: f"handles {topic} (but not in {language})",
        4: f"is in the {topic} group",
        5: "had room",
    }[level]
    return f"{agent.get('name', 'agent ' + str(agent.get('id')))} {what}"


def best_agent(ticket: dict, agents: dict[int, Any], spare: dict[int, int], given: dict[int, int],
               topic_groups: dict[str, str]) -> int:  # fmt: skip
    """The agent for ``ticket`` among those with room (``spare``): the best match, then the most spare
    capacity, then the fewest given this round, then the least loaded, then the lowest id."""
    return min(
        spare,
        key=lambda aid: (
            match(ticket, agents[aid], topic_groups),
            -spare[aid],
            given[aid],
            agents[aid]["workload"],
            aid,
        ),
    )
