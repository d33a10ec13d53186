"""Lines held back to be written together (``PRODREADY_LOG_FLUSH_MS``), through real pipes.

Each case runs an app in a child process whose stdout is a pipe read by the test, as a
container runtime reads a server: the lines arrive whole, in order, once each, and with far
fewer writes than lines; what explains a crash is never held back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from flask_prodready.logs.flusher import flush_logs
from flask_prodready.logs.process import log_process

from .support import REPO
from .support.apps import AppDir
from .support.gunicorn import INSTALL_HINT
from .support.requires import require_module
from .support.servers import free_port, http_status, stop_process, wait_until

CHILD = """
import os, sys, time
from flask import Flask
from loguru import logger
from flask_prodready import ProdReady, flush_logs

app = Flask("child", root_path={root!r}, instance_path={instance!r})
app.config["SECRET_KEY"] = "x" * 32
ProdReady(app, **{overrides!r})
app.add_url_rule("/hello", "hello", lambda: "hello")
client = app.test_client()

def requests(n):
    for _ in range(n):
        client.get("/hello")

def writes():
    for line in open("/proc/self/io"):
        if line.startswith("syscw:"):
            return int(line.split()[1])
"""


def run_child(app_dir: AppDir, body: str, **overrides: Any) -> tuple[list[dict[str, Any]], str]:
    """Run ``body`` after :data:`CHILD` in a fresh process; its JSON stdout lines and stderr."""
    script = textwrap.dedent(
        CHILD.format(
            root=str(app_dir.root),
            instance=str(app_dir.root / "instance"),
            overrides=overrides,
        )
    ) + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    lines = [json.loads(line) for line in done.stdout.decode().splitlines()]
    return lines, done.stderr.decode()


def messages(lines: list[dict[str, Any]]) -> list[str]:
    return [line["message"] for line in lines if not line["logger"].startswith("flask_prodready.")]


def access(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["logger"] == "flask_prodready.access"]


def test_many_lines_go_out_whole_and_in_order_in_few_writes(app_dir: AppDir) -> None:
    lines, err = run_child(
        app_dir,
        """
        requests(5)
        flush_logs()
        before = writes()
        for n in range(400):
            logger.info("line {}", n)
            requests(1)
        flush_logs()
        print(writes() - before, file=sys.stderr)
        """,
    )
    assert messages(lines) == [f"line {n}" for n in range(400)]
    assert len(access(lines)) == 405
    # Lines of 300 to 450 bytes, written up to PIPE_BUF (4 KiB) at a time: far fewer writes.
    assert int(err.split()[-1]) < 800 / 4


def test_access_lines_rendered_when_written_hold_their_own_requests_values(
    app_dir: AppDir,
) -> None:
    """An access line held back is rendered only when written: still with its request's
    id, path, user agent and status, in its place among the app's own lines."""
    lines, err = run_child(
        app_dir,
        """
        app.add_url_rule("/missing/<int:n>", "missing", lambda n: ("no", 404))
        ids = []
        for n in range(30):
            logger.info("line {}", n)
            answer = client.get(f"/missing/{n}", headers={"User-Agent": f"agent {n}"})
            ids.append(answer.headers["X-Request-ID"])
        flush_logs()
        print(" ".join(ids), file=sys.stderr)
        """,
    )
    ids = err.split()[-30:]
    seen = [
        line["message"]
        if line["logger"] == "__main__"
        else (line["request_id"], line["path"], line["route"], line["user_agent"], line["status"])
        for line in lines
        if line["logger"] in ("__main__", "flask_prodready.access")
    ]
    expected: list[Any] = []
    for n, rid in enumerate(ids):
        expected += [f"line {n}", (rid, f"/missing/{n}", "/missing/<int:n>", f"agent {n}", 404)]
    assert seen == expected


def test_fields_added_to_a_held_access_line_are_those_of_its_own_request(
    app_dir: AppDir, tmp_path: Path
) -> None:
    """A field function may hand back the same dict each time: the line keeps its values."""
    from flask_prodready import get_state

    path = tmp_path / "app.log"
    app = app_dir.app(log_destination=str(path), log_flush_ms=60_000)
    shared: dict[str, Any] = {"tenant": None}
    get_state(app).logs.add_fields(lambda: shared)

    def tenant(name: str) -> str:
        shared["tenant"] = name
        return name

    app.add_url_rule("/tenant/<name>", "tenant", tenant)
    client = app.test_client()
    for name in ("acme", "globex"):
        client.get(f"/tenant/{name}")
    flush_logs()
    written = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["tenant"] for line in written if "tenant" in line] == ["acme", "globex"]


def test_a_line_that_cannot_be_rendered_is_counted_and_the_others_are_written(
    app_dir: AppDir, tmp_path: Path
) -> None:
    from loguru import logger

    from flask_prodready.logs import sink_failures

    def broken(entry: tuple[Any, ...]) -> bytes:
        raise ValueError("a renderer's bug")

    path = tmp_path / "app.log"
    app_dir.app(log_destination=str(path), log_flush_ms=60_000)
    installed = log_process.installed
    assert installed is not None
    before = sink_failures()
    logger.info("before the broken line")
    installed.sink.write_later((broken,))
    logger.info("after the broken line")
    assert "before the broken line" not in path.read_text(), "lines are held back"
    flush_logs()
    written = [json.loads(line)["message"] for line in path.read_text().splitlines()]
    assert written[-2:] == ["before the broken line", "after the broken line"]
    assert sink_failures() == before + 1


def child_script(app_dir: AppDir, body: str, **overrides: Any) -> str:
    """:data:`CHILD` for ``app_dir``, then ``body``."""
    folder = app_dir.root
    return textwrap.dedent(
        CHILD.format(root=str(folder), instance=str(folder / "instance"), overrides=overrides)
    ) + textwrap.dedent(body)


def test_an_idle_apps_last_line_goes_out_by_itself(app_dir: AppDir) -> None:
    script = child_script(
        app_dir,
        """
        requests(1)
        logger.info("last words")
        time.sleep(60)
        """,
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    seen: list[str] = []
    reader = threading.Thread(
        target=lambda: seen.extend(json.loads(line)["message"] for line in child.stdout or ()),
        daemon=True,
    )
    reader.start()
    try:
        wait_until(lambda: "last words" in seen, 30, "the line held back to be written")
        assert child.poll() is None, "it came out while the process was still running"
    finally:
        child.kill()
        child.wait()


def test_lines_held_back_are_written_at_exit(app_dir: AppDir) -> None:
    lines, _ = run_child(
        app_dir,
        """
        requests(10)
        logger.info("bye")
        sys.exit(0)
        """,
    )
    assert len(access(lines)) == 10
    assert messages(lines) == ["bye"]


def test_lines_held_while_the_reader_is_slow_are_all_written_at_exit(app_dir: AppDir) -> None:
    """The flusher may be blocked writing into a full pipe when the process exits: the exit
    waits for that write and writes the rest (the reader here starts 2 s late)."""
    script = child_script(
        app_dir,
        """
        import fcntl
        fcntl.fcntl(1, 1031, 4096)  # F_SETPIPE_SZ: the smallest pipe
        for n in range(40):
            logger.info("held {} {}", n, "a" * 200)
        time.sleep(0.2)  # the flusher is now stuck in a write
        sys.exit(0)
        """,
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    time.sleep(2)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err.decode()
    held = messages([json.loads(x) for x in out.splitlines()])
    assert held == [f"held {n} {'a' * 200}" for n in range(40)]


def test_a_line_logged_by_an_exit_handler_that_runs_later_is_written() -> None:
    """Exit handlers run last registered first: one registered before flask_prodready was
    imported logs after our exit flush, and is written at once."""
    script = textwrap.dedent(
        """
        import atexit, os, tempfile
        from loguru import logger
        atexit.register(lambda: logger.info("said in an exit handler"))
        from flask import Flask
        from flask_prodready import ProdReady
        root = tempfile.mkdtemp()
        app = Flask("child", root_path=root, instance_path=os.path.join(root, "instance"))
        app.config["SECRET_KEY"] = "x" * 32
        ProdReady(app)
        logger.info("main done")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, timeout=120, check=True
    ).stdout
    assert messages([json.loads(x) for x in out.splitlines()]) == [
        "main done",
        "said in an exit handler",
    ]


def test_a_multiprocessing_childs_lines_are_written_although_it_skips_exit_handlers(
    app_dir: AppDir,
) -> None:
    lines, _ = run_child(
        app_dir,
        """
        import multiprocessing
        def work():
            logger.info("from the multiprocessing child")
        child = multiprocessing.get_context("fork").Process(target=work)
        child.start()
        child.join()
        logger.info("parent done")
        """,
    )
    assert sorted(messages(lines)) == ["from the multiprocessing child", "parent done"]


@pytest.mark.parametrize("destination", ["stdout", "/dev/stdout"])
def test_processes_sharing_a_pipe_never_interleave_their_lines(
    app_dir: AppDir, destination: str
) -> None:
    """Two processes log long lines into one small pipe read slowly: every line parses.

    A write of more than PIPE_BUF bytes to a pipe may be split around another process's;
    held lines go out in runs of at most PIPE_BUF, for stdout and for a path naming a pipe.
    """
    script = child_script(
        app_dir,
        """
        import fcntl
        fcntl.fcntl(1, 1031, 4096)  # F_SETPIPE_SZ: the smallest pipe, full most of the time
        pid = os.fork()
        tag = "child" if pid == 0 else "parent"
        for n in range(1500):
            logger.info("{} {} {}", tag, n, "z" * 700)
        flush_logs()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        """,
        log_destination=destination,
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert child.stdout is not None
    parsed = []
    for line in child.stdout:
        parsed.append(json.loads(line))  # a line split around another would not parse
        time.sleep(0.00002)
    assert child.wait(timeout=60) == 0
    tags = [line["message"].split()[0] for line in parsed if line["logger"] == "__main__"]
    assert (tags.count("parent"), tags.count("child")) == (1500, 1500)


def test_a_testing_app_and_a_production_app_share_one_sink(app_dir: AppDir) -> None:
    """Only the wait differs: alternating them keeps the handler (adding one costs ms)."""
    from flask_prodready import ProdReady

    production = app_dir.flask()
    ProdReady(production)
    assert log_process.installed is not None
    handler = log_process.installed.handler_id
    testing = app_dir.flask()
    testing.testing = True
    ProdReady(testing)
    assert log_process.installed.handler_id == handler
    assert log_process.installed.sink.flush_seconds == 0
    ProdReady(app_dir.flask())
    assert log_process.installed.handler_id == handler
    assert log_process.installed.sink.flush_seconds == 0.05


def test_a_warning_is_written_at_once_with_every_line_before_it(app_dir: AppDir) -> None:
    lines, _ = run_child(
        app_dir,
        """
        requests(5)
        logger.info("before")
        logger.warning("something is wrong")
        os._exit(0)  # no exit handlers: only what was written is there
        """,
    )
    assert len(access(lines)) == 5
    assert messages(lines) == ["before", "something is wrong"]


def test_a_forked_child_never_writes_its_parents_lines_again(app_dir: AppDir) -> None:
    lines, _ = run_child(
        app_dir,
        """
        for n in range(3):
            logger.info("parent {}", n)
        pid = os.fork()
        if pid == 0:
            logger.info("child")
            flush_logs()
            os._exit(0)
        os.waitpid(pid, 0)
        logger.info("parent after")
        """,
    )
    assert sorted(messages(lines)) == sorted(
        ["parent 0", "parent 1", "parent 2", "child", "parent after"]
    )
    assert messages(lines)[:3] == ["parent 0", "parent 1", "parent 2"]


def test_each_line_is_written_at_once_when_the_interval_is_zero(app_dir: AppDir) -> None:
    _, err = run_child(
        app_dir,
        """
        requests(5)
        before = writes()
        requests(20)
        print(writes() - before, file=sys.stderr)
        """,
        log_flush_ms=0,
    )
    assert int(err.split()[-1]) >= 20


def test_a_terminal_gets_each_line_at_once(app_dir: AppDir) -> None:
    import pty

    folder = app_dir.root
    script = textwrap.dedent(
        CHILD.format(root=str(folder), instance=str(folder / "instance"), overrides={})
    ) + textwrap.dedent(
        """
        from flask_prodready.logs.process import log_process
        print("flush_seconds", log_process.installed.sink.flush_seconds, file=sys.stderr)
        """
    )
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=REPO,
            stdout=follower,
            stderr=subprocess.PIPE,
            timeout=120,
            check=True,
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert "flush_seconds 0.0" in done.stderr.decode()


def test_the_testing_environment_holds_nothing_back(app_dir: AppDir) -> None:
    app = app_dir.flask()
    app.testing = True
    from flask_prodready import ProdReady

    ProdReady(app)
    assert log_process.installed is not None
    assert log_process.installed.sink.flush_seconds == 0


def test_a_capture_in_place_of_stdout_gets_each_line_at_once(
    app_dir: AppDir, capsys: pytest.CaptureFixture[str]
) -> None:
    app = app_dir.app()
    assert log_process.installed is not None
    assert log_process.installed.sink.flush_seconds > 0
    app.add_url_rule("/", "index", lambda: "ok")
    capsys.readouterr()
    app.test_client().get("/")
    assert '"GET / 200"' in capsys.readouterr().out


def test_a_rotated_file_stays_under_its_size_with_lines_written_together(
    app_dir: AppDir, tmp_path: Path
) -> None:
    from loguru import logger

    path = tmp_path / "app.log"
    app_dir.app(log_destination=str(path), log_file_max_bytes=3000, log_file_backups=3)
    for n in range(30):
        logger.info("line {} {}", n, "x" * 100)
    flush_logs()
    files = sorted(path.parent.glob("app.log*"))
    assert [p.name for p in files] == ["app.log", "app.log.1", "app.log.2", "app.log.3"]
    assert all(p.stat().st_size <= 3000 for p in files)
    kept = [json.loads(line)["message"] for line in path.read_text().splitlines()]
    assert kept[-1].startswith("line 29 ")


def test_gunicorn_workers_sharing_a_pipe_never_interleave_their_lines(tmp_path: Path) -> None:
    """Two real workers log long lines at once into one pipe: every line parses."""
    require_module("gunicorn", INSTALL_HINT)
    (tmp_path / "wsgi.py").write_text(
        textwrap.dedent(
            """
            import os
            from flask import Flask
            from loguru import logger
            from flask_prodready import ProdReady

            app = Flask("wsgi", instance_path=os.path.abspath("instance"))
            app.config["SECRET_KEY"] = "x" * 32
            ProdReady(app)

            @app.get("/noisy")
            def noisy():
                for n in range(20):
                    logger.info("{} {}", n, "y" * 900)
                return "ok"
            """
        )
    )
    port = free_port()
    (tmp_path / "gunicorn.conf.py").write_text(
        "from flask_prodready.gunicorn import child_exit, on_exit, on_starting, when_ready\n"
        f"workers = 2\nthreads = 4\nbind = '127.0.0.1:{port}'\n"
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    output: list[bytes] = []
    reader = threading.Thread(target=lambda: output.extend(server.stdout or ()), daemon=True)
    reader.start()
    try:
        url = f"http://127.0.0.1:{port}/noisy"
        wait_until(lambda: http_status(url) == 200, 30, lambda: b"".join(output).decode()[-2000:])
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: http_status(url), range(200)))
        assert statuses == [200] * 200
    finally:
        stop_process(server, signal.SIGQUIT)
        reader.join(30)
    noisy = []
    for line in output:
        parsed = json.loads(line)  # a line interleaved with another would not parse
        if parsed["message"].endswith("y" * 900):
            noisy.append(parsed)
    assert len(noisy) >= 200 * 20


def test_without_a_flusher_thread_lines_are_written_at_once(
    app_dir: AppDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process at its thread limit cannot start the flusher: nothing waits for it."""
    from loguru import logger

    from flask_prodready.logs import flusher

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    path = tmp_path / "app.log"
    app_dir.app(log_destination=str(path))
    flush_logs()
    monkeypatch.setattr(flusher._flusher, "_thread", None)
    monkeypatch.setattr(threading.Thread, "start", refuse)
    logger.info("no thread to wait for")
    assert "no thread to wait for" in path.read_text()


def test_sigterm_writes_the_held_lines_and_still_ends_the_process(app_dir: AppDir) -> None:
    """Python's default SIGTERM skips exit handlers (docker stop, systemd): the lines held
    back are written first, and the process dies of the signal as it would have."""
    script = child_script(
        app_dir,
        """
        import signal
        requests(3)
        logger.info("last words before SIGTERM")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)
        logger.info("never reached")
        """,
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, timeout=120, check=False
    )
    assert done.returncode == -signal.SIGTERM
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert messages(lines) == ["last words before SIGTERM"]
    assert len(access(lines)) == 3


def test_an_apps_own_sigterm_handler_is_left_alone(app_dir: AppDir) -> None:
    script = (
        "import signal, sys\n"
        "def mine(signum, frame):\n"
        "    sys.exit(3)\n"
        "signal.signal(signal.SIGTERM, mine)\n"
        + child_script(
            app_dir,
            """
            import signal
            assert signal.getsignal(signal.SIGTERM) is mine
            logger.info("held until exit")
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)
            """,
        )
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 3, done.stderr.decode()
    assert messages([json.loads(line) for line in done.stdout.splitlines()]) == ["held until exit"]


def test_a_fork_without_pythons_hooks_neither_repeats_nor_strands_lines(app_dir: AppDir) -> None:
    """uWSGI forks its workers without Python's fork hooks: the child must not write the
    parent's held lines again, and must get a flusher of its own for its lines."""
    lines, _ = run_child(
        app_dir,
        """
        import ctypes
        logger.info("held in the parent at the fork")
        pid = ctypes.CDLL(None).fork()  # no os.register_at_fork hook runs
        if pid == 0:
            logger.info("the child's line")
            time.sleep(1)  # no flush_logs(), no exit handlers: only the flusher writes it
            os._exit(0)
        os.waitpid(pid, 0)
        """,
    )
    assert sorted(messages(lines)) == ["held in the parent at the fork", "the child's line"]
