"""The data dictionary (docs/data-dictionary.md) in the database: ``COMMENT ON`` every analytics
table, view and column, so an analyst reads each meaning in their SQL client (``\\d+ ticket_facts``
in psql, the comment pane elsewhere). The Markdown file is the one source; the deploy step
(``migrations migrate``) writes it on PostgreSQL each time it runs.

Where the file is: ``$SUPPORT_DATA_DICTIONARY``, else ``docs/data-dictionary.md`` of the checkout
this package runs from, else ``/opt/support-flows/docs/`` (where the image puts it).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

CANDIDATES = (
    Path(__file__).resolve().parents[3] / "docs" / "data-dictionary.md",
    Path("/opt/support-flows/docs/data-dictionary.md"),
)
HEADING = re.compile(r"^## `(?P<name>\w+)`: (?P<title>.+)$")
ROW = re.compile(r"^\| (?P<names>`[^|]+`) \| (?P<kind>[^|]*) \| (?P<meaning>.+) \|$")


@dataclass
class Entry:
    """A table's or view's comment, and its columns'."""

    comment: str
    columns: dict[str, str] = field(default_factory=dict)


def locate() -> Path | None:
    given = os.environ.get("SUPPORT_DATA_DICTIONARY")
    if given:
        return Path(given)
    return next((path for path in CANDIDATES if path.is_file()), None)


def plain(text: str) -> str:
    """Markdown's backticks and bold markers out; the words stay."""
    return re.sub(r"\*\*|`", "", text).strip()


def parse(text: str) -> dict[str, Entry]:
    """Every ``## `table`: title`` section's columns (a row may name several: ``a``, ``b``), and
    the views of the "Views" section, each with the columns its row names."""
    entries: dict[str, Entry] = {}
    current: Entry | None = None
    in_views = False
    for line in text.splitlines():
        if line.startswith("## "):
            heading = HEADING.match(line)
            in_views = line.startswith("## Views")
            current = None
            if heading:
                current = entries[heading["name"]] = Entry(plain(heading["title"]))
            continue
        row = ROW.match(line)
        if row is None:
            continue
        names = re.findall(r"`(\w+)`", row["names"])
        if current is not None:
            for name in names:
                current.columns[name] = plain(f"{row['meaning']} ({row['kind'].strip()})")
        elif in_views and len(names) == 1:
            entries[names[0]] = Entry(plain(row["meaning"]), {c: "" for c in re.findall(r"`(\w+)`", row["kind"])})
    return entries


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def comment_statements(entries: dict[str, Entry], schema: str, tables: set[str], views: set[str]) -> list[str]:
    """The ``COMMENT ON`` statements for what the database has (a section for something else is skipped)."""
    statements = []
    for name, entry in entries.items():
        kind = "TABLE" if name in tables else "VIEW" if name in views else None
        if kind is None:
            continue
        statements.append(f'COMMENT ON {kind} "{schema}"."{name}" IS {_quoted(entry.comment)}')
        for column, meaning in entry.columns.items():
            if meaning:
                statements.append(f'COMMENT ON COLUMN "{schema}"."{name}"."{column}" IS {_quoted(meaning)}')
    return statements
