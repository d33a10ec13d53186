"""The one line in an app factory, under a test suite that builds an app per test.

Many suites call ``create_app()`` in every test. Adding ``ProdReady(app)`` to the factory
must not make such a suite run out of file descriptors: each app's files (its error store,
its SQLite connections) go with the app. A throwaway suite of 400 tests, each building an
app and sending a request that succeeds, one that fails and one that finds nothing, runs in
its own pytest process with the descriptor limit at 256, in both ways people write their
factory: with ``app.testing = True``, and left as production (the default SQLite error store
in the instance folder, shared by every app of the suite).
"""

from __future__ import annotations

import os
import resource
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path

import pytest

from tests.support import REPO

pytestmark = pytest.mark.slow

#: The number of tests, and so of apps, in the throwaway suite.
TESTS = 400
#: The descriptor limit of the suite's process: a common default (macOS: 256).
FD_LIMIT = 256

FACTORY = """
    from flask import Flask

    from flask_prodready import ProdReady

    TESTING = {testing}


    def create_app() -> Flask:
        app = Flask(__name__)  # its instance folder is next to this file, shared by all apps
        app.testing = TESTING
        ProdReady(app)

        @app.get("/hello")
        def hello() -> dict[str, str]:
            return {{"hello": "world"}}

        @app.get("/boom")
        def boom() -> str:
            raise RuntimeError("kaput")

        return app
"""

TESTS_MODULE = """
    import os

    import pytest

    from factory import TESTING, create_app


    @pytest.mark.parametrize("n", range({tests}))
    def test_an_app_of_its_own(n: int) -> None:
        app = create_app()
        client = app.test_client()
        assert client.get("/hello").get_json() == {{"hello": "world"}}
        if TESTING:
            with pytest.raises(RuntimeError, match="kaput"):
                client.get("/boom")
        else:
            assert client.get("/boom").status_code == 500
        assert client.get("/nowhere").status_code == 404
        with open("descriptors.txt", "a", encoding="utf-8") as log:
            log.write(f"{{n}} {{len(os.listdir('/proc/self/fd'))}}\\n")
"""


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def run_suite(folder: Path, *, testing: bool) -> subprocess.CompletedProcess[str]:
    """Write the suite into ``folder`` and run it with pytest, at :data:`FD_LIMIT`."""
    folder.mkdir()
    (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (folder / "factory.py").write_text(
        textwrap.dedent(FACTORY.format(testing=testing)).lstrip(), encoding="utf-8"
    )
    (folder / "test_app_per_test.py").write_text(
        textwrap.dedent(TESTS_MODULE.format(tests=TESTS)).lstrip(), encoding="utf-8"
    )
    # A user's environment: none of our settings variables (the parent's fixture sets some).
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("FLASK_", "PRODREADY_", "DYNACONF_"))
    }
    env["PYTHONPATH"] = os.pathsep.join([str(folder), str(REPO)])
    env["PYTHONFAULTHANDLER"] = "1"  # a crash, even at exit, prints every thread's stack
    return subprocess.run(
        # A basetemp of its own: the default one's clean-up would remove this test's.
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--basetemp={folder.parent / 'basetemp'}",
            str(folder),
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_low_fd_limit,
    )


@pytest.mark.parametrize("testing", [True, False], ids=["testing-app", "production-app"])
def test_an_app_per_test_suite_runs_under_256_descriptors(tmp_path: Path, testing: bool) -> None:
    folder = tmp_path / "suite"
    result = run_suite(folder, testing=testing)
    log = folder / "descriptors.txt"
    counts = [int(line.split()[1]) for line in log.read_text().splitlines()] if log.exists() else []
    peak = max(counts, default=0)
    output = "\n".join(
        [
            result.stdout[-5000:],
            result.stderr[-3000:],
            f"open descriptors: {counts[-5:]}, peak {peak}",
        ]
    )
    if result.returncode < 0:
        output = f"the suite's process was killed by signal {-result.returncode}\n{output}"
    assert result.returncode == 0, output
    assert f"{TESTS} passed" in result.stdout, output
    store = folder / "instance" / "prodready-errors.sqlite3"
    if testing:
        assert not store.exists(), "testing apps keep their errors in memory"
        return
    # Every app recorded its error in the shared file: none fell back to memory for want
    # of a descriptor.
    with closing(sqlite3.connect(store)) as db:
        rows = db.execute("SELECT exception_type, message, count FROM error_groups").fetchall()
    assert rows == [("builtins.RuntimeError", "kaput", TESTS)]
