"""A Griffe extension that makes the package's reST docstrings read well in Markdown.

The docstrings of flask-prodready follow Flask's conventions (Sphinx field lists, ``::``
examples, ``.. versionadded::`` notes, ``:class:`` roles and ``#:`` comments on constants).
mkdocstrings parses the field lists itself; this extension converts the rest before the
docstrings are parsed, without changing the code:

- a paragraph ending in ``::`` followed by an indented block becomes a fenced code block;
- ``.. versionadded:: X`` and ``.. versionchanged:: X`` become an italic line;
- ``:class:`~a.B``` and other Sphinx roles become inline code;
- an attribute without a docstring takes the ``#:`` comment lines right above it.

It is loaded from ``mkdocs.yml`` (``plugins.mkdocstrings.handlers.python.options.extensions``)
and is not part of the site.
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Docstring, Extension, Module, Object

_ROLE_RE = re.compile(r":(?:py:)?(?:class|meth|func|data|attr|mod|exc|obj|const):`(~?)([^`]+)`")
_DIRECTIVE_RE = re.compile(
    r"^(?P<indent>\s*)\.\. (?P<kind>versionadded|versionchanged|deprecated)::\s*(?P<version>\S+)"
    r"\s*(?P<text>.*)$"
)
_DIRECTIVE_TEXT = {
    "versionadded": "Added in version",
    "versionchanged": "Changed in version",
    "deprecated": "Deprecated since version",
}


def _role(match: re.Match[str]) -> str:
    short, target = match.groups()
    if short:
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


def _directive(match: re.Match[str]) -> str:
    label = _DIRECTIVE_TEXT[match["kind"]]
    text = match["text"].strip()
    line = f"*{label} {match['version']}:* {text}" if text else f"*{label} {match['version']}.*"
    return match["indent"] + line


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _literal_blocks(lines: list[str]) -> list[str]:
    """Turn ``text::`` + indented block into ``text:`` + a fenced Python block."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.rstrip()
        if not stripped.endswith("::") or stripped.lstrip().startswith(".."):
            out.append(line)
            i += 1
            continue
        base = _indent(line)
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        if j >= len(lines) or _indent(lines[j]) <= base:
            out.append(line)
            i += 1
            continue
        block_indent = _indent(lines[j])
        end = j
        while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) >= block_indent):
            end += 1
        while end > j and not lines[end - 1].strip():
            end -= 1
        head = stripped[:-2].rstrip()
        pad = " " * base
        if head.strip():
            out.extend([head + ":", ""])
        out.append(pad + "```python")
        out.extend(
            pad + block_line[block_indent:] if block_line.strip() else ""
            for block_line in lines[j:end]
        )
        out.extend([pad + "```", ""])
        i = end
        while i < len(lines) and not lines[i].strip():
            i += 1
    return out


def convert(text: str) -> str:
    """The Markdown form of one reST docstring."""
    lines = _literal_blocks(text.split("\n"))
    lines = [_DIRECTIVE_RE.sub(_directive, line) for line in lines]
    return _ROLE_RE.sub(_role, "\n".join(lines)).rstrip()


def _comment_docstring(obj: Object) -> str | None:
    """The ``#:`` comment lines right above an attribute, if any."""
    if obj.lineno is None:
        return None
    filepath = obj.filepath
    if isinstance(filepath, list) or filepath not in obj.lines_collection:
        return None
    lines = obj.lines_collection[filepath]
    found: list[str] = []
    index = obj.lineno - 2
    while index >= 0 and lines[index].strip().startswith("#:"):
        found.insert(0, lines[index].strip()[2:].strip())
        index -= 1
    return " ".join(found) or None


class SphinxMarkup(Extension):
    """Convert reST markup in docstrings to Markdown once the object tree is loaded."""

    def _fix(self, obj: Object) -> None:
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
        elif obj.is_attribute:
            text = _comment_docstring(obj)
            if text is not None:
                obj.docstring = Docstring(convert(text), parent=obj)

    def on_object(self, *, obj: Object, **kwargs: Any) -> None:
        self._fix(obj)

    def on_package(self, *, pkg: Module, **kwargs: Any) -> None:
        self._fix(pkg)
