"""Old module paths that forward to where the code now lives, with a DeprecationWarning on each use."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any


def forwarder(old: str, new: str, hint: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` for the deprecated module ``old``: a name is looked up in module ``new`` (an unknown
    one raises AttributeError, as it would have) and warns, naming ``hint`` as the import to use instead."""
    def __getattr__(name: str) -> Any:
        value = getattr(importlib.import_module(new), name)
        if not name.startswith("_"):
            warnings.warn(f"{old} is deprecated: import {name} from {new} ({hint})", DeprecationWarning,
                          stacklevel=2)
        return value

    return __getattr__
