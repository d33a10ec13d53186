"""A real PostgreSQL server (Debian package ``postgresql``) in a temporary data directory.

PostgreSQL refuses to run as root: as root, the server runs as the ``postgres`` user that the
Debian package creates, from a data directory that user owns.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .requires import missing
from .servers import free_port

INSTALL_HINT = "install the Debian package postgresql (make test does under CI)"


@dataclass
class PostgresServer:
    """A real PostgreSQL server (Debian ``postgresql``) in a temporary data directory."""

    bindir: Path
    datadir: Path
    port: int
    as_user: list[str]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str, timeout: float = 60) -> None:
        command = [*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            log = self.datadir / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise AssertionError(f"pg_ctl {args[-1]} failed: {result.stderr}\n{tail}")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.datadir} -F"
        self.pg_ctl(
            "-o", options, "-l", str(self.datadir / "server.log"), "-w", "-t", "30", "start"
        )

    def stop(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            self.pg_ctl("-m", "immediate", "-w", "-t", "30", "stop")


def postgres_bindir() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin with initdb (not on PATH on Debian).

    Skips (fails under CI) when there is none.
    """
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not found:
        missing(f"PostgreSQL is not installed; {INSTALL_HINT}")
    return found[-1].parent


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server on a free loopback port, stopped and removed on the way out."""
    bindir = postgres_bindir()
    as_user: list[str] = []
    datadir = Path(tempfile.mkdtemp(prefix="prodready-pg-"))
    try:
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail("running as root, but there is no postgres user to run PostgreSQL")
            os.chown(datadir, owner.pw_uid, owner.pw_gid)
            as_user = ["runuser", "-u", "postgres", "--"]
        subprocess.run(
            [
                *as_user,
                str(bindir / "initdb"),
                "-D",
                str(datadir),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        server = PostgresServer(bindir, datadir, free_port(), as_user)
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(datadir, ignore_errors=True)
