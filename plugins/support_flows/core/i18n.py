"""Customers' e-mails in their language. The ticket's ``language`` (from the request or the AI
check) picks the message catalog, English when there is none for it. The catalogs are gettext
``.po`` files in ``core/locale/<language>/LC_MESSAGES/messages.po``, read with Babel and compiled in
memory once per process (no binary ``.mo`` files in the repository); dates are written the
locale's way (Babel's CLDR data).

Templates mark their text with ``{% trans %}``; Python marks subjects with ``N_``. A test
extracts every marked message and fails on one a catalog lacks or leaves untranslated.
Agents', supervisors' and administrators' e-mails stay in English (the desk's language).
"""

from __future__ import annotations

import functools
import io
from datetime import date, datetime
from gettext import NullTranslations
from pathlib import Path

LOCALE_DIR = Path(__file__).with_name("locale")
DEFAULT = "en"
LANGUAGES = ("en", "es", "fr")  # English, and the two languages the desk's customers write in most


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "mark for extraction, translate later"
    return message


def language_of(ticket: dict | None) -> str:
    """The language a customer's e-mails are written in: the ticket's, when there is a catalog for it."""
    wanted = ((ticket or {}).get("language") or DEFAULT).lower()
    return wanted if wanted in LANGUAGES else DEFAULT


@functools.cache
def translations(language: str) -> NullTranslations:
    """The compiled catalog of ``language`` (English: the messages as written)."""
    if language == DEFAULT:
        return NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import Translations

    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled)


def gettext(language: str, message: str, **values: object) -> str:
    """``message`` in ``language``, with ``%(name)s`` placeholders filled."""
    text = translations(language).gettext(message)
    return text % values if values else text


def long_date(value: date | datetime | None, language: str) -> str:
    """A date the way the language writes it: 7 December 2026, 7 de diciembre de 2026, 7 décembre 2026."""
    from babel.dates import format_date

    if value is None:
        return ""
    return format_date(value, format="long", locale={"en": "en_GB"}.get(language, language))


# --- the catalogs: what is marked, and keeping the .po files in step (development) ------------------

TEMPLATE_OPTIONS = {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true"}


def marked_messages() -> dict[str, list[str]]:
    """Every message marked for translation (``{% trans %}`` in the templates, ``N_`` in the
    package), with where it is: what a catalog must translate."""
    from babel.messages.extract import extract_from_dir

    package = Path(__file__).resolve().parent.parent
    found: dict[str, list[str]] = {}
    method_map = [("core/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
    options = {"core/templates/**.html": TEMPLATE_OPTIONS}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        package, method_map, options, keywords={"N_": None, "gettext": None}
    ):
        if isinstance(message, str):
            found.setdefault(message, []).append(f"{filename}:{lineno}")
    return found


def update_catalogs() -> list[str]:
    """Bring each language's .po file in step with the marked messages: new ones added untranslated,
    gone ones dropped, translations kept. Returns what each catalog still lacks."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po, write_po

    marked = marked_messages()
    lacking = []
    for language in LANGUAGES:
        if language == DEFAULT:
            continue
        path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
        old, created = {}, None
        if path.exists():
            with path.open("rb") as po:
                previous = read_po(po, locale=language)
            old, created = {m.id: m.string for m in previous if m.id}, previous.creation_date
        # the header's date stays the catalog's first: updating an unchanged catalog changes no byte
        catalog = Catalog(locale=language, project="support-flows", charset="utf-8", fuzzy=False, creation_date=created)
        for message, where in sorted(marked.items()):
            catalog.add(
                message,
                old.get(message, ""),
                locations=[(w.rsplit(":", 1)[0], int(w.rsplit(":", 1)[1])) for w in where],
            )
            if not old.get(message):
                lacking.append(f"{language}: {message}")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as po:
            write_po(po, catalog, width=100, omit_header=False, sort_output=True)
    return lacking


if __name__ == "__main__":  # python -m support_flows.core.i18n: update the catalogs, list what is untranslated
    for line in update_catalogs():
        print(f"untranslated: {line}")
