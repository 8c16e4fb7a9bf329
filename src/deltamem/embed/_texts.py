"""Input checks shared by the embedders (one place, one message)."""

from __future__ import annotations

from collections.abc import Sequence

from deltamem.core.errors import ConfigError


def check_texts(texts: Sequence[str]) -> list[str]:
    """``texts`` as a list, or a :class:`ConfigError` for a bare string or a non-string item.

    A bare ``str`` is a sequence of characters, so ``embed("hello")`` would silently embed five letters.
    """
    if isinstance(texts, str | bytes):
        raise ConfigError("embed() takes a sequence of strings, not a single string: use embed([text])")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise ConfigError(f"embed() text #{i} is {type(t).__name__}, not str")
    return out


def is_blank(text: str) -> bool:
    """Empty or whitespace-only text: it carries no meaning, so every embedder maps it to the zero vector."""
    return not text.strip()
