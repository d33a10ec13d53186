"""The variants of the headline benchmark, each measured in a process of its own.

Every variant's log lines go to its stdout, a pipe that the benchmark reads, as a container
runtime reads a server's: the cost of writing them is part of the figure. The groups:

- **headline**: bare Flask, and flask-prodready with its defaults as users get them;
- **peers**: what teams use instead, with their own defaults;
- **decomposition**: the defaults with one part off each, so that a part's cost is the
  defaults' figure minus its row's;
- **other configurations**: the defaults changed in one labelled way.

Alerts are on in the defaults, but a measured process lives less than a second and the
engine first evaluates one interval (15 s) after its first request: an evaluation's cost is
measured by the ``scale`` suite instead (about 1 ms per 15 s).
"""

from __future__ import annotations

from typing import NamedTuple

from flask_prodready.extension import PARTS

from .apps import AppFactory, bare, exporter_alone, monitoring_dashboard, naive_stack, prodready

__all__ = ["BARE", "DEFAULTS", "VARIANTS", "Variant"]

BARE = "bare Flask"
DEFAULTS = "flask-prodready, defaults"


class Variant(NamedTuple):
    """One row of the table: its group and how its app is made."""

    group: str
    make: AppFactory


def _decomposition() -> dict[str, Variant]:
    rows = {}
    for part in PARTS:
        if part.name == "json":  # off by default: there is nothing to take away
            continue
        setting = part.setting.removeprefix("PRODREADY_").lower()
        rows[f"defaults without {part.name}"] = Variant(
            "decomposition", prodready(**{setting: False})
        )
    rows["defaults without the access line"] = Variant(
        "decomposition", prodready(access_log_enabled=False)
    )
    every_part_off = {p.setting.removeprefix("PRODREADY_").lower(): False for p in PARTS}
    rows["every part off (settings only)"] = Variant("decomposition", prodready(**every_part_off))
    return rows


VARIANTS: dict[str, Variant] = {
    BARE: Variant("headline", bare),
    DEFAULTS: Variant("headline", prodready()),
    "prometheus-flask-exporter alone": Variant("peers", exporter_alone),
    "prometheus-flask-exporter + loguru JSON access line": Variant("peers", naive_stack),
    "Flask-MonitoringDashboard": Variant("peers", monitoring_dashboard),
    **_decomposition(),
    "defaults, each line written at once (PRODREADY_LOG_FLUSH_MS = 0)": Variant(
        "other configurations", prodready(log_flush_ms=0)
    ),
    "defaults, log lines to /dev/null": Variant(
        "other configurations", prodready(log_destination="/dev/null")
    ),
}

#: The rows of ``--quick``: enough to show the headline and the largest part.
QUICK = (BARE, DEFAULTS, "prometheus-flask-exporter alone", "defaults without logs")
