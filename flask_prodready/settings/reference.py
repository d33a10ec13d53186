"""The configuration reference, generated from the schema: ``make references``.

docs/configuration.md holds the reference between two markers; the rest of the page is
written by hand. ``scripts/config_reference.py`` writes it, and a test fails when the page
and the schema disagree, so that the schema stays the one source of each setting's text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .schema import Setting, all_settings

__all__ = ["BEGIN", "END", "render_default", "render_reference", "replace_reference"]

#: The marker before the generated reference.
BEGIN = "<!-- BEGIN GENERATED: settings reference (scripts/config_reference.py) -->"
#: The marker after it.
END = "<!-- END GENERATED -->"


def render_default(value: Any) -> str:
    """A default as it would be written in ``settings.toml``, or ``unset``."""
    if value is None or value == "":
        return "unset"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, list | tuple) and len(value) > 4:
        shown = [json.dumps(v) for v in (*value[:2], value[-1])]
        return f"`[{shown[0]}, {shown[1]}, …, {shown[2]}]`"
    text = repr(value) if callable(value) else json.dumps(value, sort_keys=True)
    return f"`{text}`"


def render_reference(settings: Iterable[Setting] | None = None, *, prefix: str = "FLASK") -> str:
    """The reference: a table of every setting, then a section per setting.

    :param settings: the settings to show; all of them by default.
    :param prefix: the environment variable prefix shown.

    .. versionadded:: 0.2
    """
    chosen = tuple(all_settings() if settings is None else settings)
    lines = [
        BEGIN,
        "",
        "| Setting | Type | Default | Environment variable |",
        "| --- | --- | --- | --- |",
    ]
    for each in chosen:
        anchor = each.name.lower()
        lines.append(
            f"| [`{each.name}`](#{anchor}) | {each.expected} | {render_default(each.default)} "
            f"| `{prefix}_{each.name}` |"
        )
    for each in chosen:
        keyword = each.name.removeprefix("PRODREADY_").lower()
        lines += [
            "",
            f"### `{each.name}`",
            "",
            f"- **Type:** {each.expected}",
            f"- **Default:** {render_default(each.default)}",
            f"- **Environment variable:** `{prefix}_{each.name}`",
            f"- **Keyword:** `{keyword}=`",
            "",
            each.doc,
        ]
    lines += ["", END]
    return "\n".join(lines) + "\n"


def replace_reference(page: str, reference: str | None = None) -> str:
    """``page`` with the text between the markers replaced by the generated reference.

    :raises ValueError: if the page lacks either marker.
    """
    start, end = page.find(BEGIN), page.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the page has no {BEGIN!r} … {END!r} block to fill")
    generated = render_reference() if reference is None else reference
    return page[:start] + generated + page[end + len(END) + 1 :]
