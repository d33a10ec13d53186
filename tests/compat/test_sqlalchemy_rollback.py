"""The one line on a database app: its rollback on error still runs, and nothing half-written
is left behind.

A Flask-SQLAlchemy app whose own ``@app.errorhandler(500)`` rolls the session back and
renders its own page, and a plain SQLAlchemy app whose ``teardown_appcontext`` removes its
scoped session, are each built without and with ``ProdReady``, in production mode (no
``TESTING``, exceptions not propagated, so the 500 path is the one production takes). A
view adds a row, flushes, then fails. The database is then read through a fresh SQLite
connection, outside the app.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, jsonify, render_template_string, request
from flask.typing import ResponseReturnValue
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, scoped_session

from flask_prodready import ProdReady, get_state
from tests.support.apps import AppDir

#: Headers that we add on purpose.
OURS = {"x-request-id"}

ERROR_PAGE = "<!doctype html><h1>Sorry</h1><p>{{ path }} failed; nothing was saved.</p>"

#: What a user does against the app: read, write, fail half-way, then read and write again.
REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/items", {}),
    ("POST", "/items", {"json": {"name": "first"}}),
    ("POST", "/items/doomed", {}),
    ("GET", "/items", {}),
    ("POST", "/items", {"json": {"name": "after"}}),
    ("GET", "/items", {}),
]


@dataclass
class Built:
    """An app and what its database code saw while it served."""

    app: Flask
    path: Path
    #: Rows in the session's view of the table, as the app's error handler saw them right
    #: after its rollback (one entry per call).
    rollbacks: list[int] = field(default_factory=list)
    #: The exception each teardown of the app context received.
    teardowns: list[BaseException | None] = field(default_factory=list)
    #: Pending objects in the session at the start of each request.
    pending_at_start: list[int] = field(default_factory=list)
    #: Disposes of the app's engine, after the test.
    dispose: list[Callable[[], None]] = field(default_factory=list)


def answers(app: Flask) -> list[tuple[int, bytes, list[tuple[str, str]]]]:
    """Status, body and headers (without ours) of :data:`REQUESTS`, in order."""
    client = app.test_client()
    seen = []
    for method, path, kwargs in REQUESTS:
        response = client.open(path, method=method, **kwargs)
        headers = sorted(
            (k.lower(), v) for k, v in response.headers.items() if k.lower() not in OURS
        )
        seen.append((response.status_code, response.get_data(), headers))
    return seen


def names_on_disk(path: Path) -> list[str]:
    """The item names committed to the file, read through a connection of our own."""
    with closing(sqlite3.connect(path)) as db:
        return [name for (name,) in db.execute("SELECT name FROM item ORDER BY id")]


def assert_no_write_lock_left(path: Path) -> None:
    """A fresh connection takes the write lock at once: no transaction was left open."""
    with closing(sqlite3.connect(path, timeout=0, isolation_level=None)) as db:
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")


def production_flask(app_dir: AppDir) -> Flask:
    """An app as production runs it: not testing, exceptions answered by the 500 path."""
    app = app_dir.flask()
    app.testing = False
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


# --- a Flask-SQLAlchemy app with its own 500 handler ------------------------------------


def flask_sqlalchemy_app(app_dir: AppDir, tmp_path: Path, *, with_us: bool, early: bool) -> Built:
    """``early`` sets ProdReady up before the database and the handlers, else after them."""
    label = f"fsa-{'ours' if with_us else 'bare'}-{'early' if early else 'late'}"
    path = tmp_path / f"{label}.sqlite3"
    app = production_flask(app_dir)
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"
    if with_us and early:
        ProdReady(app)

    class Base(DeclarativeBase):
        pass

    db = SQLAlchemy(model_class=Base)

    class Item(db.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "item"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(sa.String(50))

    db.init_app(app)
    with app.app_context():
        db.create_all()
    built = Built(app, path)

    @app.before_request
    def note_pending() -> None:
        built.pending_at_start.append(len(db.session.new) + len(db.session.dirty))

    @app.teardown_appcontext
    def note_teardown(exc: BaseException | None) -> None:
        built.teardowns.append(exc)

    @app.errorhandler(500)
    def server_error(error: Exception) -> tuple[str, int]:
        db.session.rollback()
        built.rollbacks.append(db.session.scalar(sa.select(sa.func.count()).select_from(Item)))
        return render_template_string(ERROR_PAGE, path=request.path), 500

    @app.get("/items")
    def list_items() -> ResponseReturnValue:
        return jsonify([item.name for item in db.session.scalars(sa.select(Item).order_by("id"))])

    @app.post("/items")
    def add_item() -> ResponseReturnValue:
        db.session.add(Item(name=request.get_json()["name"]))
        db.session.commit()
        return jsonify(ok=True), 201

    @app.post("/items/doomed")
    def add_then_fail() -> ResponseReturnValue:
        db.session.add(Item(name="doomed"))
        db.session.flush()  # the INSERT has run: the file's write lock is held
        raise RuntimeError("kaput after the flush")

    if with_us and not early:
        ProdReady(app)

    def dispose() -> None:
        with app.app_context():
            db.engine.dispose()

    built.dispose.append(dispose)
    return built


@pytest.fixture
def disposing() -> Iterator[list[Built]]:
    """Apps whose engines are disposed after the test (no pooled connection left open)."""
    apps: list[Built] = []
    yield apps
    for built in apps:
        for dispose in built.dispose:
            dispose()


def recorded_messages(app: Flask) -> list[str]:
    store = get_state(app).components["error_store"]
    return [group.message for group in store.groups()]


@pytest.mark.parametrize("early", [True, False], ids=["prodready-first", "prodready-last"])
def test_the_apps_500_handler_rolls_back_and_answers_as_without_us(
    app_dir: AppDir, tmp_path: Path, disposing: list[Built], early: bool
) -> None:
    bare = flask_sqlalchemy_app(app_dir, tmp_path, with_us=False, early=early)
    ours = flask_sqlalchemy_app(app_dir, tmp_path, with_us=True, early=early)
    disposing += [bare, ours]
    expected = answers(bare.app)

    assert answers(ours.app) == expected, "every answer, the app's own 500 page included"
    status, body, headers = expected[2]
    assert status == 500
    assert body == b"<!doctype html><h1>Sorry</h1><p>/items/doomed failed; nothing was saved.</p>"
    assert ("content-type", "text/html; charset=utf-8") in headers
    for built in (bare, ours):
        assert built.rollbacks == [1], "the handler ran once, and its rollback undid the flush"
        assert names_on_disk(built.path) == ["first", "after"], "the flushed row never landed"
        assert_no_write_lock_left(built.path)
        assert built.pending_at_start == [0] * len(REQUESTS), "each request's session is clean"
        failed = built.teardowns[2]
        assert isinstance(failed, RuntimeError), "the teardown still hears of the error"
    assert json.loads(expected[3][1]) == ["first"], "the next request reads what was committed"
    assert recorded_messages(ours.app) == ["kaput after the flush"], "and we recorded it"


# --- a plain SQLAlchemy app: a scoped session removed at teardown, no 500 handler --------


class PlainBase(DeclarativeBase):
    pass


class PlainItem(PlainBase):
    __tablename__ = "item"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(50))


def scoped_session_app(app_dir: AppDir, tmp_path: Path, *, with_us: bool) -> Built:
    """The pattern of Flask's "SQLAlchemy in Flask" page: ``scoped_session`` at module level,
    ``remove()`` in ``teardown_appcontext``, no error handler of the app's own."""
    label = f"plain-{'ours' if with_us else 'bare'}"
    path = tmp_path / f"{label}.sqlite3"
    engine = sa.create_engine(f"sqlite:///{path}")
    PlainBase.metadata.create_all(engine)
    session: scoped_session[Session] = scoped_session(lambda: Session(bind=engine, autoflush=False))
    app = production_flask(app_dir)
    if with_us:
        ProdReady(app)
    built = Built(app, path)

    @app.before_request
    def note_pending() -> None:
        built.pending_at_start.append(len(session.new) + len(session.dirty))

    @app.teardown_appcontext
    def shutdown_session(exc: BaseException | None) -> None:
        built.teardowns.append(exc)
        session.remove()

    @app.get("/items")
    def list_items() -> ResponseReturnValue:
        rows = session.scalars(sa.select(PlainItem).order_by(PlainItem.id))
        return jsonify([item.name for item in rows])

    @app.post("/items")
    def add_item() -> ResponseReturnValue:
        session.add(PlainItem(name=request.get_json()["name"]))
        session.commit()
        return jsonify(ok=True), 201

    @app.post("/items/doomed")
    def add_then_fail() -> ResponseReturnValue:
        session.add(PlainItem(name="doomed"))
        session.flush()
        raise RuntimeError("kaput after the flush")

    built.dispose.append(engine.dispose)
    return built


def test_a_session_removed_at_teardown_leaves_nothing_and_we_answer_the_500(
    app_dir: AppDir, tmp_path: Path, disposing: list[Built]
) -> None:
    bare = scoped_session_app(app_dir, tmp_path, with_us=False)
    ours = scoped_session_app(app_dir, tmp_path, with_us=True)
    disposing += [bare, ours]
    expected = answers(bare.app)
    seen = answers(ours.app)

    # Every answer but the 500 is the app's; the 500 nobody handled is ours to fill.
    assert [answer for i, answer in enumerate(seen) if i != 2] == [
        answer for i, answer in enumerate(expected) if i != 2
    ]
    status, body, headers = seen[2]
    assert status == expected[2][0] == 500
    assert ("content-type", "application/problem+json") in headers
    problem = json.loads(body)
    assert problem["status"] == 500
    assert problem["code"] == "internal_error"
    assert b"kaput" not in body, "the exception's text is not sent to the client"
    for built in (bare, ours):
        assert names_on_disk(built.path) == ["first", "after"]
        assert_no_write_lock_left(built.path)
        assert built.pending_at_start == [0] * len(REQUESTS), "remove() cleaned the session"
        failed = built.teardowns[2]
        assert isinstance(failed, RuntimeError), "teardown_appcontext receives the error"
    assert json.loads(seen[5][1]) == ["first", "after"]
    (group,) = get_state(ours.app).components["error_store"].groups()
    assert (group.message, group.status, group.count) == ("kaput after the flush", 500, 1)
