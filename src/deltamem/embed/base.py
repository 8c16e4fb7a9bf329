"""The Embedder capability: texts in, L2-normalised float32 vectors out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from deltamem.core.model import Vectors

__all__ = ["Embedder", "Vectors", "l2_normalise"]


@runtime_checkable
class Embedder(Protocol):
    """Turns sentences into unit-length vectors. ``dim`` is detected from the model, never configured by hand."""

    @property
    def name(self) -> str:
        """A stable identifier of the model (stored with the vectors to catch a silent model switch)."""
        ...

    @property
    def dim(self) -> int:
        """The vector dimension."""
        ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed a batch: an array of shape ``(len(texts), dim)``, each row L2-normalised (all-zero for empty text)."""
        ...


def l2_normalise(x: npt.NDArray[np.floating]) -> Vectors:
    """Row-wise L2 normalisation; all-zero rows stay zero."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out: Vectors = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return out
