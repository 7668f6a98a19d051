"""The customer's survey page: the link in the resolution e-mail (``/survey/<token>``) opens a form
with a 1-5 star rating and a comment. Sending it saves the feedback as the backend's own survey
endpoint does (``source: survey``), which announces it in the event feed, where the watcher DAG
starts Flow 6 (``support_feedback_received``)."""

from __future__ import annotations

from html import escape

from flask import Blueprint, request

from mock_backend import ApiError, db
from mock_backend.page_text import TEXT as TEXT_OF
from mock_backend.page_text import language, text
from mock_backend.store import Tx

bp = Blueprint("survey_page", __name__)

COMMENT_MAX = 5000
PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;color:#1f2937}}
fieldset{{border:0;padding:0;margin:0 0 1rem}} label{{margin-right:.75rem}} textarea{{width:100%;min-height:6rem}}
button{{padding:.5rem 1.25rem}} .error{{color:#b91c1c}}</style></head>
<body><h1>{title}</h1>{body}</body></html>"""


def _page(title: str, body: str, status: int = 200, lang: str = "en"):
    page = PAGE.format(title=escape(title), body=body, lang=lang)
    return page, status, {"Content-Type": "text/html; charset=utf-8"}


def _not_found():
    return _page(text("en", "survey_not_found"), f"<p>{text('en', 'survey_not_found_body')}</p>", 404)


def _survey_and_ticket(token: str):
    conn = db()
    survey = conn.execute("SELECT * FROM surveys WHERE token = ?", (token,)).fetchone()
    if survey is None:
        return None, None
    ticket = conn.execute("SELECT id, subject, language FROM tickets WHERE id = ?", (survey["ticket_id"],)).fetchone()
    return survey, ticket


def _form(token: str, ticket, error: str | None = None, rating: str | None = None, comment: str = "") -> str:
    stars = "".join(
        f'<label><input type="radio" name="rating" value="{n}" required{" checked" if rating == str(n) else ""}> {n}</label>'
        for n in range(1, 6)
    )
    problem = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    lang = language(ticket)
    return (
        f"<p>{text(lang, 'survey_intro', id=ticket['id'], subject=ticket['subject'])}</p>{problem}"
        f'<form method="post" action="/survey/{escape(token)}">'
        f"<fieldset><legend>{text(lang, 'survey_legend')}</legend>{stars}</fieldset>"
        f'<p><label for="comment">{text(lang, "survey_comment")}</label><br>'
        f'<textarea id="comment" name="comment" maxlength="{COMMENT_MAX}">{escape(comment)}</textarea></p>'
        f'<button type="submit">{text(lang, "send")}</button></form>'
    )


@bp.get("/survey/<token>")
def survey_form(token: str):
    """The survey link in the resolution e-mail: a 1-5 rating and a comment."""
    survey, ticket = _survey_and_ticket(token)
    if survey is None:
        return _not_found()
    answered = db().execute("SELECT rating FROM feedback WHERE ticket_id = ?", (ticket["id"],)).fetchone()
    lang = language(ticket)
    if answered is not None:
        already = text(lang, "already_rated", id=ticket["id"], rating=answered["rating"])
        return _page(text(lang, "thanks"), f"<p>{already}</p>", lang=lang)
    return _page(text(lang, "survey_title"), _form(token, ticket), lang=lang)


@bp.post("/survey/<token>")
def survey_answer(token: str):
    """The survey's answer, saved as the Support API's survey endpoint saves it (which starts Flow 6)."""
    from mock_backend.support_api.feedback import save_feedback

    survey, ticket = _survey_and_ticket(token)
    if survey is None:
        return _not_found()
    rating, comment = request.form.get("rating", ""), request.form.get("comment", "").strip()
    lang, error = language(ticket), None
    if rating not in {"1", "2", "3", "4", "5"}:
        error = TEXT_OF[lang]["choose_rating"]
    elif len(comment) > COMMENT_MAX:
        error = TEXT_OF[lang]["comment_too_long"].format(limit=COMMENT_MAX)
    if error:
        return _page(text(lang, "survey_title"), _form(token, ticket, error, rating, comment), 400, lang)
    try:
        with Tx(db()) as conn:
            save_feedback(conn, ticket["id"], int(rating), comment or None, "survey")
    except ApiError as err:
        return _page(text(lang, "not_taken"), f"<p>{escape(err.message)}</p>", err.status, lang)
    return _page(text(lang, "thanks"), f"<p>{text(lang, 'rated', id=ticket['id'])}</p>", lang=lang)
