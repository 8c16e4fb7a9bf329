"""Judge prompt texts for the benchmark protocols (plain files, written in our own words after each PROTOCOL).

Each file is a ``str.format`` template; :func:`load` returns the raw text and the builders in
:mod:`deltamem.eval.metrics` fill it in.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load(name: str) -> str:
    """The text of ``prompts/<name>.txt``."""
    return resources.files(__package__).joinpath(f"{name}.txt").read_text(encoding="utf-8").strip()
