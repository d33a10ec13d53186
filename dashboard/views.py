"""The dashboard's blueprint and views: full pages, and their live part for htmx."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_htmx import HTMX
from werkzeug.wrappers import Response

from flask_prodready import set_log_level
from flask_prodready.introspection import introspect
from flask_prodready.state import get_state
from flask_prodready.store import StoreError

from . import pages
from .auth import Decision
from .csrf import CSRF_COOKIE, csrf_ok, new_csrf_secret
from .sessions import SESSION_COOKIE, Session
from .sync import LEVEL_PREFIX
from .throttle import DEVICE_COOKIE, DEVICE_SECONDS

if TYPE_CHECKING:
    from . import Dashboard

__all__ = ["BLUEPRINT_NAME", "ERRORS_PER_PAGE", "make_blueprint"]

#: The name of the dashboard's blueprint, for ``url_for("prodready_dashboard.index")``.
BLUEPRINT_NAME = "prodready_dashboard"
#: Error groups per page of the Errors list.
ERRORS_PER_PAGE = 25
# Endpoints reachable without being let in: the login form and the static files.
_PUBLIC_ENDPOINTS = frozenset({f"{BLUEPRINT_NAME}.login", f"{BLUEPRINT_NAME}.static"})
_HTMX = HTMX()


def make_blueprint() -> Blueprint:
    """A new dashboard blueprint, with its templates and static files."""
    blueprint = Blueprint(
        BLUEPRINT_NAME,
        __name__,
        template_folder="templates",
        static_folder="static",
        static_url_path="/static",
    )
    blueprint.before_request(_guard)
    blueprint.after_request(_set_csrf_cookie)
    blueprint.context_processor(_template_globals)
    rules: list[tuple[str, str, Any, list[str]]] = [
        ("/", "index", index, ["GET"]),
        ("/errors", "errors", errors, ["GET"]),
        ("/errors/<fingerprint>", "error", error, ["GET"]),
        ("/errors/<fingerprint>/resolve", "resolve", resolve, ["POST"]),
        ("/requests", "requests", requests_page, ["GET"]),
        ("/outgoing", "outgoing", outgoing_page, ["GET"]),
        ("/logs", "logs", logs_page, ["GET"]),
        ("/logs/level", "log_level", log_level, ["POST"]),
        ("/health", "health", health, ["GET"]),
        ("/health/run", "run_health", run_health, ["POST"]),
        ("/config", "config", config, ["GET"]),
        ("/alerts", "alerts", alerts_page, ["GET"]),
        ("/performance", "performance", performance, ["GET"]),
        ("/performance/profiles/<profile_id>", "profile", profile, ["GET"]),
        ("/performance/profiles/<profile_id>.prof", "profile_download", profile_download, ["GET"]),
        ("/performance/arm", "arm_profiling", arm_profiling, ["POST"]),
        ("/login", "login", login, ["GET", "POST"]),
        ("/logout", "logout", logout, ["POST"]),
    ]
    for rule, endpoint, view, methods in rules:
        blueprint.add_url_rule(rule, endpoint, view, methods=methods)
    return blueprint


def _dashboard() -> Dashboard:
    return cast("Dashboard", get_state().add_ons["dashboard"])


def _guard() -> ResponseReturnValue | None:
    dashboard = _dashboard()
    # The CSRF cookie's secret, and the token forms must carry: a signed-in browser's is
    # derived from its session, so a cookie planted before the login is worth nothing after.
    g._prodready_csrf_cookie = request.cookies.get(CSRF_COOKIE) or new_csrf_secret()
    g._prodready_csrf = g._prodready_csrf_cookie
    if request.endpoint in _PUBLIC_ENDPOINTS:
        decision = Decision.ALLOWED
    else:
        grant = dashboard.access.grant(request, introspect().error_store)
        decision = grant.decision
        if decision is Decision.ALLOWED:
            g._prodready_let_in = True
            g._prodready_session = grant.session
            g._prodready_new_device = grant.new_device
            if grant.session is not None:
                g._prodready_csrf = dashboard.access.session_csrf(grant.session)
    if decision is Decision.LOGIN:
        target = url_for(f"{BLUEPRINT_NAME}.login", next=request.full_path)
        if _HTMX:
            return Response(status=204, headers={"HX-Redirect": target})
        return redirect(target, 303)
    if decision is Decision.CHALLENGE:
        return Response(
            "login required",
            401,
            {"WWW-Authenticate": 'Basic realm="flask-prodready dashboard", charset="UTF-8"'},
        )
    if decision is Decision.FORBIDDEN:
        abort(403)
    if request.method == "POST" and not csrf_ok(request, g._prodready_csrf):
        abort(403)
    return None


def _set_csrf_cookie(response: Response) -> Response:
    """Set the CSRF cookie when new or rotated, and the device cookie after a first login."""
    secret = g.get("_prodready_csrf_cookie")
    if secret and request.cookies.get(CSRF_COOKIE) != secret:
        response.set_cookie(
            CSRF_COOKIE,
            secret,
            httponly=True,
            samesite="Strict",
            secure=request.is_secure,
            path=_dashboard().prefix,
        )
    if g.get("_prodready_new_device"):
        response.set_cookie(
            DEVICE_COOKIE,
            _dashboard().access.new_device(),
            max_age=DEVICE_SECONDS,
            httponly=True,
            samesite="Strict",
            secure=request.is_secure,
            path=_dashboard().prefix,
        )
    return response


def _template_globals() -> dict[str, Any]:
    dashboard = _dashboard()
    info = introspect()
    # The login page is for anyone: it shows nothing about the app (no alerts, environment,
    # host or version).
    let_in = bool(g.get("_prodready_let_in"))
    return {
        "csrf_token": g.get("_prodready_csrf", ""),
        "poll_ms": dashboard.poll_ms,
        "prodready": info,
        "version": info.version,
        "modes": dashboard.access.modes,
        "let_in": let_in,
        "signed_in": g.get("_prodready_session") is not None,
        "fmt": pages.FORMATTERS,
        "firing": pages.firing_alerts(info) if let_in else [],
    }


def _page(template: str, live: str | None = None, **context: Any) -> ResponseReturnValue:
    """The full page, or only its live part when htmx asks for it."""
    if live is not None and _HTMX:
        return render_template(live, **context)
    return render_template(template, live_template=live, **context)


# -- pages ------------------------------------------------------------------------------


def index() -> ResponseReturnValue:
    """Overview: health, traffic charts, newest errors, alerts, instances."""
    context = pages.overview(introspect(), _dashboard())
    return _page("prodready/overview.html", "prodready/_overview.html", **context)


def errors() -> ResponseReturnValue:
    """Error groups, filtered and paged."""
    store = introspect().error_store
    route = request.args.get("route") or None
    status_text = request.args.get("status", "")
    status = int(status_text) if status_text.isdigit() else None
    resolved_text = request.args.get("resolved", "open")
    resolved = {"open": False, "resolved": True}.get(resolved_text)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    groups = []
    problem = None
    if store is not None:
        try:
            groups = store.groups(
                route=route,
                status=status,
                resolved=resolved,
                limit=ERRORS_PER_PAGE + 1,
                offset=(page - 1) * ERRORS_PER_PAGE,
            )
        except StoreError as exc:
            problem = str(exc)
    return _page(
        "prodready/errors.html",
        "prodready/_errors.html",
        groups=groups[:ERRORS_PER_PAGE],
        more=len(groups) > ERRORS_PER_PAGE,
        page=page,
        filters={"route": route or "", "status": status_text, "resolved": resolved_text},
        store_missing=store is None,
        problem=problem,
    )


def error(fingerprint: str) -> ResponseReturnValue:
    """One error group: stack, request context, occurrences and the request's log lines."""
    store = introspect().error_store
    group = store.group(fingerprint) if store is not None else None
    if store is None or group is None:
        abort(404)
    occurrences = store.occurrences(fingerprint)
    latest = occurrences[0] if occurrences else None
    crumbs = [pages.parse_line(text) for text in latest.breadcrumbs] if latest else []
    return render_template(
        "prodready/error.html", group=group, occurrences=occurrences, latest=latest, crumbs=crumbs
    )


def resolve(fingerprint: str) -> ResponseReturnValue:
    """Resolve (``resolved=1``) or reopen (``resolved=0``) a group."""
    store = introspect().error_store
    resolved = request.form.get("resolved") == "1"
    if store is None or not store.set_resolved(fingerprint, resolved):
        abort(404)
    if _HTMX:
        group = store.group(fingerprint)
        return render_template("prodready/_resolve.html", group=group)
    return redirect(url_for(f"{BLUEPRINT_NAME}.error", fingerprint=fingerprint), 303)


def requests_page() -> ResponseReturnValue:
    """Per-route rate, error % and latency quantiles, sortable."""
    minutes = request.args.get("minutes", 15, type=int) or 15
    minutes = min(max(minutes, 1), 60)
    sort = request.args.get("sort", "requests")
    rows, problem = pages.route_rows(introspect(), minutes, sort)
    return _page(
        "prodready/requests.html",
        "prodready/_requests.html",
        rows=rows,
        minutes=minutes,
        sort=sort,
        problem=problem,
    )


def logs_page() -> ResponseReturnValue:
    """Recent WARNING+ lines of every worker, searchable by request id; log levels."""
    info = introspect()
    store = info.error_store
    request_id = request.args.get("request_id", "").strip() or None
    lines = []
    problem = None
    if store is not None:
        try:
            lines = [pages.parse_line(line.text) for line in store.log_lines(request_id=request_id)]
        except StoreError as exc:
            problem = str(exc)
    return _page(
        "prodready/logs.html",
        "prodready/_logs.html",
        lines=lines,
        request_id=request_id or "",
        levels=pages.log_levels(info),
        level_names=info.log_level_names,
        store_missing=store is None,
        problem=problem,
        shipping_failures=info.log_store_failures(),
    )


def log_level() -> ResponseReturnValue:
    """Change a log level in this worker now and, through the store, in every worker."""
    info = introspect()
    level = request.form.get("level", "").upper()
    name = request.form.get("logger", "").strip()
    if level not in info.log_level_names or len(name) > 200:
        abort(400)
    try:
        set_log_level(level, name or None)
    except RuntimeError:
        abort(409)
    dashboard = _dashboard()
    dashboard.sync.remember(name, level)
    store = info.error_store
    if store is not None:
        try:
            store.set_value(LEVEL_PREFIX + name, level)
        except StoreError:
            dashboard.sync.failures += 1
    return redirect(url_for(f"{BLUEPRINT_NAME}.logs"), 303)


def health() -> ResponseReturnValue:
    """Every check with its recent results."""
    context = pages.health(introspect(), _dashboard())
    return _page("prodready/health.html", "prodready/_health.html", **context)


def run_health() -> ResponseReturnValue:
    """Run every check now, bypassing the cache."""
    info = introspect()
    runner = info.health_runner
    if runner is None:
        abort(404)
    runner.run(app=info.app, use_cache=False)
    return redirect(url_for(f"{BLUEPRINT_NAME}.health"), 303)


def config() -> ResponseReturnValue:
    """Effective settings (redacted) with their sources, and the result of the check."""
    rows, warnings = pages.config_rows(introspect())
    return render_template("prodready/config.html", rows=rows, warnings=warnings)


def alerts_page() -> ResponseReturnValue:
    """Every alert rule with its state, and the history of state changes."""
    info = introspect()
    return _page(
        "prodready/alerts.html",
        "prodready/_alerts.html",
        states=info.alert_states(),
        rules={rule.name: rule for rule in info.alert_rules()},
        history=info.alert_history(),
        alerts_off=not info.alerts_on,
    )


def outgoing_page() -> ResponseReturnValue:
    """Calls to other services: the slowest and failing hosts, and the latest failures."""
    return render_template("prodready/outgoing.html", **pages.outgoing(introspect()))


def performance() -> ResponseReturnValue:
    """Profiles, repeated queries (N+1) and slow requests."""
    context = pages.performance(introspect())
    return render_template("prodready/performance.html", **context)


def profile(profile_id: str) -> ResponseReturnValue:
    """One profile: its functions by cumulative time."""
    found = introspect().profile(profile_id)
    if found is None:
        abort(404)
    return render_template("prodready/profile.html", profile=found)


def profile_download(profile_id: str) -> ResponseReturnValue:
    """The profile as a ``.prof`` file, for snakeviz or pstats."""
    from flask import send_file

    path = introspect().profile_file(profile_id)
    if path is None:
        abort(404)
    return send_file(
        path,
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=f"{profile_id}.prof",
    )


def arm_profiling() -> ResponseReturnValue:
    """Profile the next N requests of one route, in whichever worker serves them."""
    from flask_prodready.profiling import arm

    if get_state(introspect().app).profiling is None:
        abort(404)  # profiling is off: there is nothing to arm
    route = request.form.get("route", "").strip()
    count = request.form.get("count", 1, type=int) or 1
    if not route.startswith("/") or len(route) > 300 or not 1 <= count <= 50:
        abort(400)
    try:
        arm(introspect().app, route, count)
    except (KeyError, StoreError):
        abort(409)
    return redirect(url_for(f"{BLUEPRINT_NAME}.performance"), 303)


def login() -> ResponseReturnValue:
    """The token login form; a good token begins a session and rotates the CSRF token."""
    dashboard = _dashboard()
    access = dashboard.access
    if not access.token:
        abort(404)
    target = _safe_next(request.values.get("next", ""), dashboard.prefix)
    error_text = None
    status = 200
    if request.method == "POST":
        key, trusted = access.client_key(request, "")
        if not csrf_ok(request):
            abort(403)
        if access.throttle.blocked(key, trusted):
            error_text, status = "Too many failed logins; wait a minute.", 429
        elif access.token_matches(request.form.get("token", "")):
            g._prodready_csrf_cookie = new_csrf_secret()
            g._prodready_new_device = True
            response = redirect(target, 303)
            response.set_cookie(
                SESSION_COOKIE,
                access.new_session(introspect().error_store),
                max_age=access.session_seconds,
                httponly=True,
                samesite="Strict",
                secure=request.is_secure,
                path=dashboard.prefix,
            )
            return response
        else:
            access.throttle.failed(key)
            error_text, status = "Wrong token.", 401
    return render_template("prodready/login.html", next=target, error=error_text), status


def logout() -> ResponseReturnValue:
    """End the session in every worker, forget its cookie and rotate the CSRF token."""
    dashboard = _dashboard()
    session: Session | None = g.get("_prodready_session")
    if session is not None:
        dashboard.access.revoke(session, introspect().error_store)
    g._prodready_csrf_cookie = new_csrf_secret()
    response = redirect(url_for(f"{BLUEPRINT_NAME}.login"), 303)
    response.delete_cookie(SESSION_COOKIE, path=dashboard.prefix)
    return response


def _safe_next(target: str, prefix: str) -> str:
    """``target`` when it is a path inside the dashboard, else the overview."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target or not target.startswith(prefix + "/"):
        return prefix + "/"
    return target
