"""Write the settings reference of docs/configuration.md from the schema (make references).

``--check`` changes nothing: it exits 1, with a diff, when the page is not what the schema
gives, so that the code and the page cannot drift apart.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from flask_prodready.settings.reference import replace_reference

PAGE = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check``, compare) the generated reference; the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on drift")
    args = parser.parse_args(argv)
    current = PAGE.read_text(encoding="utf-8")
    wanted = replace_reference(current)
    if args.check:
        if current == wanted:
            return 0
        sys.stdout.writelines(
            difflib.unified_diff(
                current.splitlines(keepends=True),
                wanted.splitlines(keepends=True),
                "docs/configuration.md",
                "generated",
            )
        )
        print("\ndocs/configuration.md is out of date: run make references", file=sys.stderr)
        return 1
    PAGE.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
