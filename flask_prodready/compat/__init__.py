"""Fast paths into our dependencies' internals: one module per dependency, each with a fallback."""

__all__: list[str] = []
