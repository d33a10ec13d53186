"""The harnesses of the test suite, one module per real part the tests drive.

``tests/conftest.py`` holds only fixtures (thin wrappers over these modules) and pytest hooks;
scripts such as ``scripts/screenshots.py`` use the same harnesses outside pytest.

- :mod:`tests.support.requires`: the CI rule for missing parts (fail under ``CI=true``, else skip).
- :mod:`tests.support.servers`: free ports, waiting, child processes, an upstream HTTP server.
- :mod:`tests.support.apps`: app folders with settings files, health test apps, the example app.
- :mod:`tests.support.redis`: a real ``redis-server``.
- :mod:`tests.support.gunicorn`: a real gunicorn master with its workers.
- :mod:`tests.support.prometheus`: a real Prometheus server.
- :mod:`tests.support.postgres`: a real PostgreSQL server.
- :mod:`tests.support.chromium`: Debian's ``chromium`` driven by Playwright.
"""

from __future__ import annotations

from pathlib import Path

#: The root of the repository (the folder of ``pyproject.toml``).
REPO = Path(__file__).resolve().parent.parent.parent
