"""Customers' e-mails in their language (core/i18n.py): every message marked in the templates and
the package is in each catalog, translated, with the same placeholders; each customer e-mail,
rendered in each language, leaves no English sentence behind; the ticket's language picks the
catalog, English when there is none for it; dates are written the locale's way."""

from __future__ import annotations

import re
from datetime import date

import pytest
from babel.messages.pofile import read_po

from support_flows.core import i18n, notifications

TICKET = {
    "id": 42,
    "customer_name": "Ana",
    "customer_email": "ana@example.org",
    "subject": "Login",
    "priority": "urgent",
    "created_at": "2026-12-07T10:00:00+00:00",
}
LINKS = {"solved_url": "https://support.example.com/a/s", "help_url": "https://support.example.com/a/h"}

# every e-mail a customer gets, as the flows make it
CUSTOMER_EMAILS = {
    "ai_answer": lambda t: notifications.ai_answer_email(t, "Reset it.", LINKS),
    "acknowledgement": notifications.acknowledgement_email,
    "resolution": lambda t: notifications.resolution_email(t, "Done.", {"name": "Ada"}),
    "resolution_without_agent": lambda t: notifications.resolution_email(t, "Done.", None),
    "survey": lambda t: notifications.survey_email(t, "https://support.example.com/survey/x"),
    "feedback_thanks_low": lambda t: notifications.feedback_thanks_email(t, 1),
    "feedback_thanks_high": lambda t: notifications.feedback_thanks_email(t, 5),
    "pending_reminder": lambda t: notifications.pending_reminder_email(t, 4, date(2026, 12, 11)),
    "pending_reminder_without_date": lambda t: notifications.pending_reminder_email(t, 4),
    "pending_resolved": lambda t: notifications.pending_resolved_email(t, 7, 7),
}
TRANSLATED = [lang for lang in i18n.LANGUAGES if lang != i18n.DEFAULT]


def catalog(language: str) -> dict[str, str]:
    with (i18n.LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return {m.id: m.string for m in read_po(po, locale=language) if m.id}


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"%\((\w+)\)s", text))


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_marked_message_is_translated_with_its_placeholders(language):
    marked, translated = i18n.marked_messages(), catalog(language)
    assert marked, "the premise: the extraction finds the templates' messages"
    missing = sorted(set(marked) - set(translated))
    assert not missing, f"{language}: run python -m support_flows.core.i18n, then translate: {missing}"
    assert not sorted(set(translated) - set(marked)), f"{language}: messages nobody marks any more"
    for message in marked:
        assert translated[message], f"{language}: untranslated: {message!r} ({marked[message][0]})"
        assert placeholders(translated[message]) == placeholders(message), (language, message)


def visible_text(html: str) -> str:
    body = html.split("<body", 1)[1]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).replace("&#39;", "'")


def english_sentences() -> list[str]:
    """The marked messages' words, placeholders and markup taken out: what must not survive translation."""
    parts = []
    for message in i18n.marked_messages():
        for part in re.split(r"%\(\w+\)s|<[^>]+>|&middot;", message):
            part = part.strip(" .,:;?!()#[]")
            if len(part.split()) >= 3:
                parts.append(part)
    return parts


@pytest.mark.parametrize("name", sorted(CUSTOMER_EMAILS))
@pytest.mark.parametrize("language", TRANSLATED)
def test_each_customer_email_in_each_language_leaves_no_english_behind(name, language):
    english = CUSTOMER_EMAILS[name]({**TICKET, "language": "en"})
    translated = CUSTOMER_EMAILS[name]({**TICKET, "language": language})
    text = visible_text(translated.html) + " " + translated.subject
    assert f'<html lang="{language}"' in translated.html and '<html lang="en"' in english.html
    assert translated.subject != english.subject and "42" in translated.subject
    left = [sentence for sentence in english_sentences() if sentence in text]
    assert not left, f"{name} in {language} still says: {left}"
    # the premise: the same check finds the English in the English e-mail
    assert any(sentence in visible_text(english.html) for sentence in english_sentences())


def test_the_tickets_language_picks_the_catalog_english_when_there_is_none():
    assert i18n.language_of({"language": "es"}) == "es"
    assert i18n.language_of({"language": "FR"}) == "fr"
    assert i18n.language_of({"language": "de"}) == "en"  # no German catalog: English
    assert i18n.language_of({"language": None}) == "en" and i18n.language_of({}) == "en"
    assert notifications.survey_email({**TICKET, "language": "de"}, "u").subject == "[Ticket #42] How did we do?"


def test_dates_and_priorities_are_written_the_locales_way():
    assert i18n.long_date(date(2026, 12, 7), "en") == "7 December 2026"
    assert i18n.long_date(date(2026, 12, 7), "es") == "7 de diciembre de 2026"
    assert i18n.long_date(date(2026, 12, 7), "fr") == "7 décembre 2026"
    spanish = visible_text(notifications.acknowledgement_email({**TICKET, "language": "es"}).html)
    assert "el 7 de diciembre de 2026" in spanish and "prioridad urgente" in spanish


def test_what_a_customer_wrote_is_escaped_in_every_language():
    for language in i18n.LANGUAGES:
        email = notifications.acknowledgement_email(
            {**TICKET, "language": language, "customer_name": "<script>x</script>", "subject": "a & <b>"}
        )
        assert "<script>" not in email.html and "&lt;script&gt;" in email.html and "a &amp; &lt;b&gt;" in email.html


def test_the_customer_pages_have_every_text_in_every_language():
    """The backend's pages the e-mails link to (the mock's answer and survey pages) speak the same
    languages: every text in each, none left in English."""
    from mock_backend.page_text import TEXT

    assert set(TEXT) == set(i18n.LANGUAGES)
    for language in TRANSLATED:
        assert set(TEXT[language]) == set(TEXT["en"]), language
        same = [key for key in TEXT["en"] if TEXT[language][key] == TEXT["en"][key]]
        assert not same, f"{language}: still in English: {same}"
        for key, words in TEXT["en"].items():
            assert set(re.findall(r"\{(\w+)\}", TEXT[language][key])) == set(re.findall(r"\{(\w+)\}", words)), key
