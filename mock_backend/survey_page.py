"""The customer's survey page: the link in the resolution e-mail (``/survey/<token>``) opens a form
with a 1-5 star rating and a comment. Sending it saves the feedback as the backend's own survey
endpoint does (``source: survey``), which announces it in the event feed, where the watcher DAG
starts Flow 6 (``support_feedback_received``)."""

from __future__ import annotations

from html import escape

from flask import Blueprint, request

from mock_backend import ApiError, db
from mock_backend.store import Tx

bp = Blueprint("survey_page", __name__)

COMMENT_MAX = 5000
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;color:#1f2937}}
fieldset{{border:0;padding:0;margin:0 0 1rem}} label{{margin-right:.75rem}} textarea{{width:100%;min-height:6rem}}
button{{padding:.5rem 1.25rem}} .error{{color:#b91c1c}}</style></head>
<body><h1>{title}</h1>{body}</body></html>"""


def _page(title: str, body: str, status: int = 200):
    return PAGE.format(title=escape(title), body=body), status, {"Content-Type": "text/html; charset=utf-8"}


def _not_found():
    return _page("Survey not found", "<p>This survey link is not valid. Please check the link in your e-mail.</p>", 404)


def _survey_and_ticket(token: str):
    conn = db()
    survey = conn.execute("SELECT * FROM surveys WHERE token = ?", (token,)).fetchone()
    if survey is None:
        return None, None
    ticket = conn.execute("SELECT id, subject FROM tickets WHERE id = ?", (survey["ticket_id"],)).fetchone()
    return survey, ticket


def _form(token: str, ticket, error: str | None = None, rating: str | None = None, comment: str = "") -> str:
    stars = "".join(
        f'<label><input type="radio" name="rating" value="{n}" required{" checked" if rating == str(n) else ""}> {n}</label>'
        for n in range(1, 6)
    )
    problem = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return (
        f"<p>How did we do on ticket #{ticket['id']} ({escape(ticket['subject'])})?</p>{problem}"
        f'<form method="post" action="/survey/{escape(token)}">'
        f"<fieldset><legend>Your rating (1 = very poor, 5 = excellent)</legend>{stars}</fieldset>"
        f'<p><label for="comment">Anything you want to tell us (optional)</label><br>'
        f'<textarea id="comment" name="comment" maxlength="{COMMENT_MAX}">{escape(comment)}</textarea></p>'
        '<button type="submit">Send</button></form>'
    )


@bp.get("/survey/<token>")
def survey_form(token: str):
    """The survey link in the resolution e-mail: a 1-5 rating and a comment."""
    survey, ticket = _survey_and_ticket(token)
    if survey is None:
        return _not_found()
    answered = db().execute("SELECT rating FROM feedback WHERE ticket_id = ?", (ticket["id"],)).fetchone()
    if answered is not None:
        return _page("Thank you", f"<p>You already rated ticket #{ticket['id']}: {answered['rating']} of 5.</p>")
    return _page("How did we do?", _form(token, ticket))


@bp.post("/survey/<token>")
def survey_answer(token: str):
    """The survey's answer, saved as the Support API's survey endpoint saves it (which starts Flow 6)."""
    from mock_backend.support_api.feedback import save_feedback

    survey, ticket = _survey_and_ticket(token)
    if survey is None:
        return _not_found()
    rating, comment = request.form.get("rating", ""), request.form.get("comment", "").strip()
    error = None
    if rating not in {"1", "2", "3", "4", "5"}:
        error = "Please choose a rating from 1 to 5."
    elif len(comment) > COMMENT_MAX:
        error = f"Please keep the comment under {COMMENT_MAX} characters."
    if error:
        return _page("How did we do?", _form(token, ticket, error, rating, comment), 400)
    try:
        with Tx(db()) as conn:
            save_feedback(conn, ticket["id"], int(rating), comment or None, "survey")
    except ApiError as err:
        return _page("We could not take your rating", f"<p>{escape(err.message)}</p>", err.status)
    return _page("Thank you", f"<p>Thank you for rating ticket #{ticket['id']}. Your feedback has been passed on.</p>")
