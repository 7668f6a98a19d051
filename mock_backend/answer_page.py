"""The AI answer's two links (``/answer/<token>/solved`` and ``/answer/<token>/help``), in the e-mail
that carries the AI's answer. Opening a link shows a page with one button (a GET changes nothing:
mail scanners open links); pressing it records the customer's choice once, while the ticket still
waits on them after the AI's answer:

- "This solved my problem": ``ai_answer_feedback = solved`` and a ``ticket.ai_answer_confirmed``
  event, from which the flows resolve the ticket as answered by AI;
- "I still need help": the customer's words become a reply on the ticket (``ticket.customer_replied``,
  the same as an e-mail reply), which the flows hand to an agent.

A link used again, or after the ticket moved on, says what happened and changes nothing."""

from __future__ import annotations

from html import escape

from flask import Blueprint, request

from mock_backend import db
from mock_backend.page_text import TEXT, language, text
from mock_backend.store import Tx, now_ts
from mock_backend.survey_page import _page

bp = Blueprint("answer_page", __name__)

WORDS_MAX = 20000


def _link(token: str):
    return (
        db()
        .execute(
            "SELECT l.token, l.chosen_at, t.id, t.subject, t.status, t.ai_answer_feedback, t.customer_name, t.language"
            " FROM answer_links l JOIN tickets t ON t.id = l.ticket_id WHERE l.token = ?",
            (token,),
        )
        .fetchone()
    )


def _settled(link):
    """The page for a link that can no longer change anything, or None."""
    if link is None:
        return _page(text("en", "not_found"), f"<p>{text('en', 'not_found_body')}</p>", 404)
    lang = language(link)
    if link["ai_answer_feedback"] == "solved":
        return _page(text(lang, "thanks"), f"<p>{text(lang, 'already_solved', id=link['id'])}</p>", lang=lang)
    if link["ai_answer_feedback"] == "help":
        return _page(text(lang, "thanks"), f"<p>{text(lang, 'already_help', id=link['id'])}</p>", lang=lang)
    if link["status"] != "ai_responded":
        where = "moved_resolved" if link["status"] in ("resolved", "closed") else "moved_team"
        return _page(text(lang, "nothing"), f"<p>{text(lang, where, id=link['id'])}</p>", lang=lang)
    return None


@bp.get("/answer/<token>/solved")
def solved_form(token: str):
    """The "this solved my problem" link: a page with a button (a GET changes nothing: mail scanners open links)."""
    link = _link(token)
    if (settled := _settled(link)) is not None:
        return settled
    lang = language(link)
    return _page(
        text(lang, "solved_title"),
        f"<p>{text(lang, 'ticket_line', id=link['id'], subject=link['subject'])}</p>"
        f'<form method="post" action="/answer/{escape(token)}/solved">'
        f'<button type="submit">{text(lang, "solved_button")}</button></form>',
        lang=lang,
    )


@bp.post("/answer/<token>/solved")
def solved(token: str):
    """The customer pressed "this solved my problem": recorded once, announced in the event feed."""
    from mock_backend.support_api.common import emit

    with Tx(db()) as conn:
        link = _link(token)
        settled = _settled(link)
        if settled:
            return settled
        now = now_ts()
        conn.execute("UPDATE answer_links SET chosen_at = ? WHERE token = ?", (now, token))
        conn.execute(
            "UPDATE tickets SET ai_answer_feedback = 'solved', updated_at = ?, last_activity_at = ? WHERE id = ?",
            (now, now, link["id"]),
        )
        emit(conn, "ticket.ai_answer_confirmed", {"ticket_id": link["id"]})
    lang = language(link)
    return _page(text(lang, "thanks"), f"<p>{text(lang, 'glad', id=link['id'])}</p>", lang=lang)


def _help_form(token: str, link, error: str | None = None, words: str = "") -> str:
    problem = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    lang = language(link)
    return (
        f"<p>{text(lang, 'help_intro', id=link['id'], subject=link['subject'])}</p>{problem}"
        f'<form method="post" action="/answer/{escape(token)}/help">'
        f'<p><label for="words">{text(lang, "help_label")}</label><br>'
        f'<textarea id="words" name="words" maxlength="{WORDS_MAX}" required>{escape(words)}</textarea></p>'
        f'<button type="submit">{text(lang, "help_button")}</button></form>'
    )


@bp.get("/answer/<token>/help")
def help_form(token: str):
    """The "I still need help" link: a page with a box for the customer's words and a button (a GET changes nothing)."""
    link = _link(token)
    if (settled := _settled(link)) is not None:
        return settled
    lang = language(link)
    return _page(text(lang, "help_title"), _help_form(token, link), lang=lang)


@bp.post("/answer/<token>/help")
def still_need_help(token: str):
    """The customer pressed "I still need help": recorded once, announced in the event feed with their words."""
    from mock_backend.support_api.common import emit
    from mock_backend.support_api.tickets import insert_note

    words = request.form.get("words", "").strip()
    with Tx(db()) as conn:
        link = _link(token)
        settled = _settled(link)
        if settled:
            return settled
        lang = language(link)
        if not words or len(words) > WORDS_MAX:
            error = TEXT[lang]["help_empty"] if not words else TEXT[lang]["too_long"].format(limit=WORDS_MAX)
            return _page(text(lang, "help_title"), _help_form(token, link, error, words), 400, lang)
        now = now_ts()
        note, _ = insert_note(
            conn,
            link["id"],
            {"author": link["customer_name"], "author_type": "customer", "body": words, "key": f"answer-link-{token}"},
        )
        conn.execute("UPDATE answer_links SET chosen_at = ? WHERE token = ?", (now, token))
        conn.execute(
            "UPDATE tickets SET ai_answer_feedback = 'help', customer_replied_at = COALESCE(customer_replied_at, ?)"
            " WHERE id = ?",
            (note["created_at"], link["id"]),
        )
        emit(conn, "ticket.customer_replied", {"ticket_id": link["id"], "note_id": note["id"]})
    return _page(text(lang, "thanks"), f"<p>{text(lang, 'help_sent', id=link['id'])}</p>", lang=lang)
