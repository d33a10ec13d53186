"""The headline: flask-prodready's defaults as users get them, beside peers and each part.

Every variant runs in a fresh process whose stdout is a pipe read by this one, alternating
round by round (variant A, B, C…, then again) so that a machine getting busier or quieter
hits them all alike. The figure is CPU time of the measured process per request: each
round's figure divided by that round's bare Flask, the median of those ratios, times bare
Flask's median; against the defaults (a part's cost), the median of the per-round
differences. The children get this environment without ``FLASK_``/``PRODREADY_`` settings.
:func:`tables` renders the rows as ``make bench`` prints them and writes them into
``README.md`` and ``docs/performance.md`` (between ``<!-- bench:headline -->`` marks).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from flask_prodready.metrics import MULTIPROC_DIR_ENV

from .variants import BARE, DEFAULTS, VARIANTS

__all__ = ["BUDGET", "NEXT_AIM", "clean_environment", "measure", "tables", "write_into"]

REPO = Path(__file__).resolve().parent.parent
#: The defaults at most this many times bare Flask's cost (issue 21), and the next aim.
BUDGET = 1.5
NEXT_AIM = 1.25
_MARK_START, _MARK_END = "<!-- bench:headline -->", "<!-- /bench:headline -->"


def measure(names: list[str], rounds: int, requests: int) -> list[dict[str, Any]]:
    """Each variant of ``names`` measured ``rounds`` times in alternation; one row each."""
    samples: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="bench-headline-") as folder:
        out = Path(folder) / "seconds"
        for index in range(rounds):
            # Each round its own string hash seed, the same for every variant of the round:
            # users' processes get a random one, and one fixed seed would measure one dict
            # layout (moving a variant by up to 8% either way), not what users get.
            env = clean_environment() | {"PYTHONHASHSEED": str(index + 1)}
            for name in names:
                done = subprocess.run(
                    [sys.executable, "-m", "benchmarks.one", name, str(requests), str(out)],
                    cwd=REPO,
                    env=env,
                    capture_output=True,  # read, as a container runtime reads it
                    timeout=600,
                    check=False,
                )
                if done.returncode != 0:
                    raise RuntimeError(
                        f"{name} exited with {done.returncode}:\n{done.stderr.decode()[-3000:]}"
                    )
                samples[name].append(float(out.read_text()))
    # Each round's figures against that round's bare Flask: a machine that drifts between
    # rounds moves both, and the ratio stays.
    bare = samples[BARE]
    base = statistics.median(bare)
    ratios = {
        name: [v / b for v, b in zip(values, bare, strict=True)] for name, values in samples.items()
    }
    defaults = samples.get(DEFAULTS)
    rows = []
    for name, values in samples.items():
        ratio = statistics.median(ratios[name])
        # Against the defaults, round by round too: a part's cost is a difference of two
        # figures measured seconds apart, not of two medians.
        against = (
            None
            if defaults is None
            else statistics.median(v - d for v, d in zip(values, defaults, strict=True))
        )
        rows.append(
            {
                "variant": name,
                "group": VARIANTS[name].group,
                "median_us": round(base * ratio * 1e6, 1),
                "fastest_us": round(min(values) * 1e6, 1),
                "ratio": round(ratio, 2),
                "added_us": round(base * (ratio - 1) * 1e6, 1),
                "against_defaults_us": None if against is None else round(against * 1e6, 1),
                "rounds_us": [round(value * 1e6, 1) for value in values],
            }
        )
    return rows


def clean_environment() -> dict[str, str]:
    """This environment without settings: the defaults must not depend on the shell."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("FLASK_", "PRODREADY_"))
        and name.upper() != MULTIPROC_DIR_ENV.upper()
    }


def verdict(rows: list[dict[str, Any]]) -> str:
    """The headline's one sentence: the defaults against the budget."""
    ours = next(row for row in rows if row["variant"] == DEFAULTS)
    within = "within" if ours["ratio"] <= BUDGET else "OVER"
    return (
        f"flask-prodready's defaults: {ours['ratio']:.2f}x bare Flask "
        f"(budget {BUDGET}x: {within}; next aim {NEXT_AIM}x)"
    )


def tables(rows: list[dict[str, Any]], about: str) -> str:
    """The rows as Markdown: one table per group, the verdict, and ``about`` the run."""
    parts = [about, ""]
    titles = {
        "headline": "**Headline**: the defaults as users get them",
        "peers": "**Peers**, each with its own defaults",
        "decomposition": "**Each part**: the defaults with one part off "
        "(a part's cost: the median, over the rounds, of the defaults' figure minus its row's)",
        "other configurations": "**Other configurations** of flask-prodready, labelled",
    }
    for group, title in titles.items():
        chosen = [row for row in rows if row["group"] == group]
        if not chosen:
            continue
        last = "the part costs, µs" if group == "decomposition" else "against the defaults, µs"
        parts += [
            title,
            "",
            f"| variant | µs/request | fastest round | x bare Flask | added µs | {last} |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for row in chosen:
            against = row["against_defaults_us"]
            if against is None or row["variant"] in (BARE, DEFAULTS):
                shown = ""
            elif group == "decomposition":
                shown = f"{-against:.1f}"
            else:
                shown = f"{against:+.1f}"
            parts.append(
                f"| {row['variant']} | {row['median_us']:.1f} | {row['fastest_us']:.1f} "
                f"| {row['ratio']:.2f} "
                f"| {row['added_us']:+.1f} | {shown} |"
            )
        parts.append("")
    parts.append(verdict(rows) + ".")
    return "\n".join(parts) + "\n"


def write_into(path: Path, text: str) -> None:
    """Replace what stands between the headline marks of ``path`` by ``text``.

    :raises ValueError: when ``path`` has no marks.
    """
    page = path.read_text(encoding="utf-8")
    start, end = page.find(_MARK_START), page.find(_MARK_END)
    if start < 0 or end < start:
        raise ValueError(f"{path} has no {_MARK_START} … {_MARK_END} block")
    page = page[: start + len(_MARK_START)] + "\n" + text + page[end:]
    path.write_text(page, encoding="utf-8")
