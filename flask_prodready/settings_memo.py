"""The per-process memo of loaded settings, under its 0.1 name: see
:mod:`flask_prodready.settings.memo`."""

from __future__ import annotations

from .settings.memo import Inputs, Remembered, clear, fresh, inputs, recall, remember

__all__ = ["Inputs", "Remembered", "clear", "fresh", "inputs", "recall", "remember"]
