"""Moved code (the facade to ``deltamem.facade``, the benchmark loaders to ``deltamem.datasets``): the old module
paths still work, with a DeprecationWarning."""

from __future__ import annotations

import importlib

import pytest

import deltamem
from deltamem.datasets import load_locomo
from deltamem.facade import Memory
from deltamem.facade.aio import AsyncMemory


@pytest.mark.parametrize(("module", "name", "moved"), [("deltamem.api", "Memory", Memory),
                                                       ("deltamem.aio", "AsyncMemory", AsyncMemory),
                                                       ("deltamem.eval.loaders", "load_locomo", load_locomo)])
def test_old_module_paths_forward_with_a_warning(module: str, name: str, moved: object) -> None:
    old = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match=f"{module} is deprecated"):
        assert getattr(old, name) is moved
    with pytest.raises(AttributeError):
        old.NoSuchName  # noqa: B018


def test_the_package_exports_the_facade_without_a_warning(recwarn: pytest.WarningsRecorder) -> None:
    assert deltamem.Memory is Memory and deltamem.AsyncMemory is AsyncMemory
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]
