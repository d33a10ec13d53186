"""The gunicorn hooks, called the way gunicorn calls them, each in a fresh interpreter.

They depend on what a process has imported, so every case runs in its own interpreter; the
real gunicorn is driven by tests/test_metrics_gunicorn.py.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

PRELUDE = """
import os, sys, tempfile
from pathlib import Path
from flask_prodready import gunicorn as hooks

class Log:
    def __init__(self): self.lines = []
    def info(self, msg, *args): self.lines.append(("info", msg % args))
    def warning(self, msg, *args): self.lines.append(("warning", msg % args))

class Server:
    def __init__(self): self.log = Log()

class Worker:
    def __init__(self, pid): self.pid = pid

server = Server()
"""


def run(script: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), **(env or {})},
    )


def test_importing_the_hooks_imports_no_prometheus_client() -> None:
    result = run('assert "prometheus_client" not in sys.modules, sorted(sys.modules)')
    assert result.returncode == 0, result.stderr


def test_without_a_directory_a_private_one_is_made_and_removed_on_exit() -> None:
    result = run(
        """
        hooks.on_starting(server)
        directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
        assert directory.is_dir() and directory.parent == Path(tempfile.gettempdir())
        assert oct(directory.stat().st_mode & 0o777) == "0o700"
        hooks.when_ready(server)
        expected = f"metrics: every worker's metrics are added up from {directory}"
        assert ("info", expected) in server.log.lines
        hooks.on_exit(server)
        assert not directory.exists()
        """
    )
    assert result.returncode == 0, result.stderr


def test_a_given_directory_is_created_and_emptied_of_metric_files_only(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    for name in ("counter_11.db", "histogram_11.db", "gauge_livesum_12.db", "gauge_max_13.db"):
        (directory / name).write_bytes(b"old")
    (directory / "README").write_text("keep")
    (directory / "counter_backup.db").write_text("keep: not a file prometheus_client writes")
    result = run(
        """
        master = os.getpid()
        directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
        (directory / f"gauge_max_{master}.db").write_bytes(b"the preloaded master's own")
        hooks.on_starting(server)
        print(sorted(path.name for path in directory.iterdir()))
        print(server.log.lines)
        hooks.on_exit(server)
        assert directory.exists(), "a directory that was given is kept"
        """,
        env={"PROMETHEUS_MULTIPROC_DIR": str(directory)},
    )
    assert result.returncode == 0, result.stderr
    names, log = result.stdout.splitlines()
    assert names.startswith("['README', 'counter_backup.db', 'gauge_max_")
    assert "removed 4 metric files" in log


def test_a_missing_given_directory_is_created(tmp_path: Path) -> None:
    directory = tmp_path / "deep" / "metrics"
    result = run("hooks.on_starting(server)", env={"PROMETHEUS_MULTIPROC_DIR": str(directory)})
    assert result.returncode == 0, result.stderr
    assert directory.is_dir()


def test_child_exit_drops_only_the_live_gauges_of_the_worker(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    result = run(
        """
        hooks.on_starting(server)
        directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
        for name in ("counter_41.db", "histogram_41.db", "gauge_livesum_41.db",
                     "gauge_livemostrecent_41.db", "gauge_max_41.db", "gauge_livesum_42.db"):
            (directory / name).write_bytes(b"")
        hooks.child_exit(server, Worker(41))
        print(sorted(path.name for path in directory.iterdir()))
        """,
        env={"PROMETHEUS_MULTIPROC_DIR": str(directory)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(
        ["counter_41.db", "gauge_livesum_42.db", "gauge_max_41.db", "histogram_41.db"]
    )


def test_prometheus_imported_too_early_stops_the_master() -> None:
    result = run(
        """
        import prometheus_client
        hooks.on_starting(server)
        """
    )
    assert result.returncode != 0
    assert "imported in the gunicorn master before PROMETHEUS_MULTIPROC_DIR" in result.stderr


def test_when_ready_warns_without_multiprocess_mode() -> None:
    result = run(
        """
        hooks.when_ready(server)
        hooks.child_exit(server, Worker(1))
        hooks.on_exit(server)
        print(server.log.lines)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "warning" in result.stdout
    assert "each worker answers /metrics with its own numbers" in result.stdout


def test_on_starting_sends_the_masters_lines_through_the_json_sink(tmp_path: Path) -> None:
    import json

    script = textwrap.dedent(
        """
        import logging, os, sys
        from types import SimpleNamespace
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = sys.argv[1]
        from flask_prodready import gunicorn as hooks
        log = SimpleNamespace(info=lambda *a: None, warning=lambda *a: None)
        hooks.on_starting(SimpleNamespace(log=log))
        logging.getLogger("gunicorn.error").info("Booting worker with pid: %s", 4242)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "metrics")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (line,) = [json.loads(text) for text in result.stdout.splitlines()]
    assert (line["logger"], line["message"]) == ("gunicorn.error", "Booting worker with pid: 4242")
