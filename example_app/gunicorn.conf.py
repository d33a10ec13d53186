# ruff: noqa: N999  (gunicorn looks for the name gunicorn.conf.py)
"""gunicorn settings for the example app.

From the repository root::

    .venv/bin/gunicorn -c example_app/gunicorn.conf.py

serves the example on http://127.0.0.1:8000 with 3 worker processes; one scrape of
http://127.0.0.1:8000/metrics adds up all of them. ``BIND`` and ``WEB_CONCURRENCY`` change
the address and the number of workers; command-line options such as ``-b`` and ``-w`` win
over this file.
"""

import os

# gunicorn looks hooks up by name: these make /metrics add up every worker (prometheus_client's
# multiprocess mode), keep totals when a worker is replaced, and clean up after dead workers.
from flask_prodready.gunicorn import child_exit, on_exit, on_starting, when_ready  # noqa: F401

wsgi_app = "example_app:create_app()"
bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
# Load the app in each worker, after on_starting has set PROMETHEUS_MULTIPROC_DIR. To preload,
# export PROMETHEUS_MULTIPROC_DIR (an existing directory) before starting gunicorn.
preload_app = False
