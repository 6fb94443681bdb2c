"""The front-desk web UI, served by the scheduler at ``/``: server-rendered pages whose small
amount of JavaScript calls the three services' APIs on the same origin with the session cookie
and the CSRF token from the page's <meta> tag (it never sees the session token itself)."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from functools import wraps
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
)
from pydantic import ValidationError
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from services.scheduler import access, sign_in_guard
from services.scheduler.api import check_ins
from services.scheduler.api.common import client_json, practitioner_json, service_type_json
from services.scheduler.api.practice import practice_json
from services.scheduler.api.sign_in import TOKEN_TTL, client_address
from services.scheduler.domain import wall_to_utc
from services.scheduler.tables import CheckInSettings, Client, Practice, Practitioner, ServiceType
from services.scheduler.ui import sessions
from shared.auth import SESSION_COOKIE
from shared.http import Problem
from shared.web import runtime

ui = Blueprint(
    "ui",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/ui/static",
)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@ui.record_once
def _configure(state: Any) -> None:
    # Flask's own signed cookie only carries the sign-in form's CSRF value.
    state.app.config.update(
        SESSION_COOKIE_NAME="rapport_ui_pre",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=True,
    )


@ui.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response


def signed_in(view: Any) -> Any:
    """Pages need a valid session; without one, go to the sign-in page."""

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        found = sessions.current_session()
        if found is None:
            # Back to this page after signing in again.
            back = (
                sessions.safe_next(request.full_path.rstrip("?"))
                if request.method == "GET"
                else None
            )
            response = redirect(
                "/sign-in" + (f"?next={quote(back, safe='')}" if back else ""), code=303
            )
            if request.cookies.get(SESSION_COOKIE):
                _clear_session(response)
            return response
        g.ui_user, g.ui_token = found
        g.principal = g.ui_user  # the same access rules as the API (services/scheduler/access.py)
        return view(*args, **kwargs)

    return guarded


def _clear_session(response: BaseResponse) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="Strict")


def _reference() -> dict[str, Any]:
    """What every page shows or needs: practice, practitioners, service types (all small).
    Clients are not here: a practice has thousands, and pages ask the API for the ones they
    show or search for."""
    with runtime().db.sessions() as db:
        practice = db.scalars(select(Practice)).first()
        return {
            "practice": practice_json(practice)
            if practice
            else {"name": "Rapport", "time_zone": "UTC", "cancellation_window_hours": 0},
            "practitioners": [
                practitioner_json(p)
                for p in db.scalars(select(Practitioner).order_by(Practitioner.display_name))
            ],
            "service_types": [
                service_type_json(s)
                for s in db.scalars(select(ServiceType).order_by(ServiceType.name))
            ],
        }


def page(template: str, **context: Any) -> str:
    reference = _reference()
    return render_template(
        template,
        user=g.ui_user,
        csrf=sessions.session_csrf(g.ui_token),
        session_expires=sessions.session_expires(g.ui_token).isoformat(),
        practice=reference["practice"],
        reference=reference,
        # The page's JavaScript follows the application clock, not the desk computer's.
        now=runtime().clock.now().isoformat(),
        **context,
    )


# -- sign in and out -------------------------------------------------------------------------


def _next_page() -> str:
    return sessions.safe_next(request.values.get("next")) or "/day"


def _sign_in_form(error: str | None = None, email: str = "", status: int = 200) -> Any:
    with runtime().db.sessions() as db:
        practice = db.scalars(select(Practice)).first()
    body = render_template(
        "ui/sign_in.html",
        csrf=sessions.pre_session_csrf(),
        error=error,
        email=email,
        next=sessions.safe_next(request.values.get("next")) or "",
        practice_name=practice.name if practice else "Rapport",
    )
    return make_response(body, status)


@ui.get("/sign-in")
def sign_in_form() -> Any:
    if sessions.current_session() is not None:
        return redirect(_next_page(), code=303)
    return _sign_in_form()


@ui.post("/sign-in")
def sign_in() -> Any:
    email = request.form.get("email", "").strip().lower()[:320]
    password = request.form.get("password", "")[:200]
    if not sessions.same(request.form.get("csrf_token"), sessions.pre_session_csrf()):
        sessions.SIGN_INS.labels("refused").inc()
        return _sign_in_form(
            "The sign-in page was out of date. Please try again.", email, status=400
        )
    rt = runtime()
    outcome = sign_in_guard.attempt(rt.db, rt.clock, email, password, client_address(), via="form")
    if outcome.limited:
        sessions.SIGN_INS.labels("limited").inc()
        minutes = max(1, math.ceil(outcome.retry_after / 60))
        return _sign_in_form(
            "Too many failed sign-ins. Wait "
            + (f"{minutes} minutes" if minutes > 1 else "a minute")
            + " and try again, or ask an admin to check your account.",
            email,
            status=429,
        )
    principal = outcome.principal
    if principal is None:
        sessions.SIGN_INS.labels("failed").inc()
        return _sign_in_form("The email or password is not right.", email, status=401)
    sessions.SIGN_INS.labels("success").inc()
    response = redirect(_next_page(), code=303)
    _set_session(response, sessions.issue_session(principal))
    return response


def _set_session(response: BaseResponse, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(TOKEN_TTL.total_seconds()),
        path="/",
        secure=True,
        httponly=True,
        samesite="Strict",
    )


@ui.post("/session/extend")
@signed_in
def extend_session() -> Any:
    """A new session for the signed-in user, before theirs runs out (the page warns them); the
    CSRF token is tied to the session, so the page gets the new one."""
    if not sessions.same(request.headers.get("X-CSRF-Token"), sessions.session_csrf(g.ui_token)):
        return _refused()
    user = sessions.still_active(g.ui_user)
    if user is None:
        response = make_response(
            jsonify(title="Signed out", status=401, detail="This account is no longer active."),
            401,
        )
        response.mimetype = "application/problem+json"
        _clear_session(response)
        return response
    token = sessions.issue_session(user, renewing=g.ui_token)
    response = jsonify(
        expires_at=sessions.session_expires(token).isoformat(),
        csrf_token=sessions.session_csrf(token),
    )
    _set_session(response, token)
    return response


@ui.get("/session/status")
@signed_in
def session_status() -> Any:
    """When this browser's session runs out (renewed meanwhile on another page of the desk,
    perhaps); reading it is not activity and renews nothing."""
    response = jsonify(expires_at=sessions.session_expires(g.ui_token).isoformat())
    response.headers["Cache-Control"] = "no-store"
    return response


@ui.post("/sign-out")
@signed_in
def sign_out() -> Any:
    if not sessions.same(request.form.get("csrf_token"), sessions.session_csrf(g.ui_token)):
        return _refused()
    response = redirect("/sign-in", code=303)
    _clear_session(response)
    return response


def _refused() -> Any:
    body = render_template(
        "ui/refused.html",
        message="The page was out of date (missing security token). Go back, reload and retry.",
    )
    return make_response(body, 403)


# -- pages -----------------------------------------------------------------------------------


@ui.get("/")
def home() -> Any:
    return redirect("/day", code=303)


def _today(zone: ZoneInfo) -> date:
    return runtime().clock.now().astimezone(zone).date()


def _day_arg(zone: ZoneInfo) -> date:
    """The ?date= asked for (YYYY-MM-DD), else today in the practice's zone."""
    try:
        return date.fromisoformat(request.args.get("date", ""))
    except ValueError:
        return _today(zone)


def _calendar(view: str) -> Any:
    reference = _reference()
    zone = ZoneInfo(reference["practice"]["time_zone"])
    day = _day_arg(zone)
    if view == "week":
        first = day - timedelta(days=day.weekday())
        days = [first + timedelta(days=i) for i in range(7)]
        step = timedelta(days=7)
    else:
        days = [day]
        step = timedelta(days=1)
    start = wall_to_utc(datetime.combine(days[0], datetime.min.time()), zone)
    end = wall_to_utc(datetime.combine(days[-1] + timedelta(days=1), datetime.min.time()), zone)
    # A practitioner sees their own calendar unless they choose otherwise.
    default = g.ui_user.practitioner_id if g.ui_user.role == "practitioner" else ""
    practitioner = request.args.get("practitioner", default or "")
    if practitioner not in {p["id"] for p in reference["practitioners"]}:
        practitioner = ""
    return page(
        "ui/calendar.html",
        view=view,
        day=day,
        days=days,
        previous=(days[0] - step).isoformat(),
        following=(days[0] + step).isoformat(),
        today=_today(zone).isoformat(),
        practitioner=practitioner,
        range_from=start.isoformat(),
        range_to=end.isoformat(),
    )


@ui.get("/day")
@signed_in
def day_view() -> Any:
    return _calendar("day")


@ui.get("/week")
@signed_in
def week_view() -> Any:
    return _calendar("week")


@ui.get("/book")
@signed_in
def book() -> Any:
    # Prefilled from a free time clicked on the calendar (?date=&time=&practitioner=).
    return page(
        "ui/book.html",
        client_id=request.args.get("client", ""),
        prefill={k: request.args.get(k, "")[:64] for k in ("date", "time", "practitioner")},
    )


@ui.get("/clients")
@signed_in
def clients() -> Any:
    user = g.ui_user
    own_feeds = [
        p
        for p in _reference()["practitioners"]
        if p["active"]
        and (user.is_admin or (user.role == "practitioner" and user.practitioner_id == p["id"]))
    ]
    return page("ui/clients.html", client_id=request.args.get("client", ""), own_feeds=own_feeds)


@ui.get("/clients/<client_id>")
@signed_in
def client_page(client_id: str) -> Any:
    with runtime().db.sessions() as db:
        client = db.get(Client, client_id[:36])
        found = client_json(client) if client and access.may_see_client(db, client) else None
    if found is None:
        body = render_template("ui/refused.html", message="There is no such client.")
        return make_response(body, 404)
    return page("ui/client.html", client=found, check_ins=_check_ins(found["id"]))


def _check_ins(client_id: str) -> dict[str, Any] | None:
    """The check-ins card, for the client's practitioner and admins (the desk never sees it)."""
    if g.ui_user.role not in ("practitioner", "admin"):
        return None
    with runtime().db.sessions() as db:
        settings = check_ins.settings_json(db.get(CheckInSettings, check_ins.PRACTICE))
    return {
        "enrolment": check_ins.enrolment_of(client_id),
        "settings": settings,
        "weekdays": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    }


@ui.post("/clients/<client_id>/check-ins")
@signed_in
def enrol_in_check_ins(client_id: str) -> Any:
    """The check-ins form (no script needed): enrol or change, then back to the client."""
    if not sessions.same(request.form.get("csrf_token"), sessions.session_csrf(g.ui_token)):
        return _refused()
    form = request.form
    fields: dict[str, Any] = {
        "schedule": form.get("schedule", "daily"),
        "time": form.get("time", "19:00"),
        "weekdays": [int(d) for d in form.getlist("weekdays") if d.isdigit()],
        "days_after": form.get("days_after") or None,
        "until": form.get("until", "upcoming_sessions"),
        "until_date": form.get("until_date") or None,
        "question": form.get("question") or None,
        "practitioner_id": form.get("practitioner_id") or None,
    }
    try:
        body = check_ins.EnrolmentBody.model_validate(fields)
        check_ins.enrol(client_id[:36], body, g.ui_user)
    except ValidationError as exc:
        message = "; ".join(str(e["msg"]) for e in exc.errors(include_url=False))
        return _problem_page(f"Check-ins were not changed: {message}", 422)
    except Problem as problem:
        return _problem_page(f"Check-ins were not changed: {problem.detail}", problem.status)
    return redirect(f"/clients/{quote(client_id[:36])}#check-ins", code=303)


@ui.post("/clients/<client_id>/check-ins/end")
@signed_in
def end_check_ins(client_id: str) -> Any:
    if not sessions.same(request.form.get("csrf_token"), sessions.session_csrf(g.ui_token)):
        return _refused()
    try:
        check_ins.end(client_id[:36], g.ui_user)
    except Problem as problem:
        return _problem_page(f"Check-ins were not changed: {problem.detail}", problem.status)
    return redirect(f"/clients/{quote(client_id[:36])}#check-ins", code=303)


def _problem_page(message: str, status: int) -> Any:
    return make_response(render_template("ui/refused.html", message=message), status)


@ui.get("/balances")
@signed_in
def balances() -> Any:
    return page("ui/balances.html")


@ui.get("/messages")
@signed_in
def messages() -> Any:
    return page("ui/messages.html")


@ui.get("/waitlist")
@signed_in
def waitlist() -> Any:
    return page("ui/waitlist.html")
