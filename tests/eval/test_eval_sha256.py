"""sha256 verification against published hashes."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import pytest

from deltamem.core.errors import CorruptDataError
from deltamem.datasets import DataIntegrityWarning, load_locomo, verify_sha256
from deltamem.datasets import locomo as locomo_mod

FIX = Path(__file__).parent / "fixtures"


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_match_mismatch_and_unknown(tmp_path: Path) -> None:
    f = tmp_path / "locomo_dev.json"
    f.write_bytes(b"[]")
    assert verify_sha256(f, known={}, expected=_sha(f)) is True
    with pytest.raises(CorruptDataError, match=r"locomo_dev\.json: sha256 .* differs"):
        verify_sha256(f, known=locomo_mod.KNOWN_SHA256)
    with pytest.warns(DataIntegrityWarning, match="differs"):
        assert verify_sha256(f, known=locomo_mod.KNOWN_SHA256, on_mismatch="warn") is False
    with pytest.warns(DataIntegrityWarning, match="no published sha256"):
        assert verify_sha256(tmp_path / "locomo_dev.json", known={"other.json": "0" * 64}) is None


def test_loader_verify_option(tmp_path: Path) -> None:
    f = tmp_path / "locomo10.json"
    f.write_bytes((FIX / "locomo_mini.json").read_bytes())
    with pytest.raises(CorruptDataError, match="differs"):
        load_locomo(f, verify="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_locomo(f)) == 2  # "off" by default: no hashing, no warning
