"""``deltamem serve-llm``, ``deltamem llm-models`` and ``deltamem llm-bench``: the packaged local LLM from the shell."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from deltamem.cli import render
from deltamem.cli.common import OPTS, run_safely

if TYPE_CHECKING:
    from deltamem.llm.discovery import ServerRecord

ModelOpt = Annotated[str | None, typer.Option(
    "--model", "-m", help="qwen2.5-coder-1.5b (default), qwen2.5-coder-0.5b, smollm2-135m, or a .gguf path.")]
CacheOpt = Annotated[Path | None, typer.Option(
    "--cache-dir", help="Where packaged models are assembled (default $DELTAMEM_CACHE_DIR, else "
    "~/.cache/deltamem/models).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print data as JSON.")]


def _resolve(model: str | None, cache_dir: Path | None, *, progress: bool) -> tuple[Path, str]:
    """(GGUF path, display name) for a packaged model name or a path."""
    from deltamem.core import ConfigError
    from deltamem.llm.model_files import DEFAULT_MODEL, MODELS, cache_dir_from_env, ensure_model

    key = model or DEFAULT_MODEL
    if key in MODELS:
        directory = cache_dir or cache_dir_from_env(os.environ)
        return ensure_model(key, cache_dir=directory, progress=progress), key
    path = Path(key).expanduser()
    if not path.is_file():
        raise ConfigError(f"{key!r} is neither a packaged model ({', '.join(MODELS)}) nor a GGUF file")
    return path, path.stem


def _record(*, host: str, port: int, name: str, model: str | None, path: Path, context_size: int,
            api_key_env: str | None, embeddings: str | None) -> ServerRecord:
    """What this server advertises in its discovery file (never the key itself)."""
    from deltamem.llm.discovery import ServerRecord, client_url, now_iso
    from deltamem.llm.model_files import DEFAULT_MODEL, MODELS

    key = model or DEFAULT_MODEL
    spec = MODELS.get(key)
    return ServerRecord(base_url=client_url(host, port), model=name, path=str(path.resolve()),
                        packaged=key if spec else None, sha256=spec.sha256 if spec else None, pid=os.getpid(),
                        started=now_iso(), context_size=context_size, api_key_env=api_key_env, embeddings=embeddings)


@contextlib.contextmanager
def _advertised(record: ServerRecord, *, enabled: bool) -> Iterator[Path | None]:
    """The discovery file of ``record`` while the block runs (None when disabled or not writable)."""
    if not enabled:
        yield None
        return
    from deltamem.llm.discovery import advertise, runtime_dir

    with advertise(record, runtime_dir(os.environ)) as path:
        yield path


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """Make SIGTERM (``kill``) a clean exit, so that the server stops and its discovery file is removed."""
    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def register(app: typer.Typer) -> None:
    """Add ``serve-llm``, ``llm-models`` and ``llm-bench``."""

    @app.command("serve-llm")
    def serve_llm(
        model: ModelOpt = None,
        host: Annotated[str, typer.Option(help="Interface to bind; anything but loopback needs --api-key-env.")] = (
            "127.0.0.1"),
        port: Annotated[int, typer.Option(help="Port of the OpenAI-compatible endpoint.")] = 8011,
        ctx: Annotated[int, typer.Option("--ctx", help="Context size in tokens (mem0 2.2.1 needs 16384).")] = 16384,
        threads: Annotated[int | None, typer.Option(help="CPU threads (default: all cores).")] = None,
        embeddings: Annotated[bool, typer.Option(
            "--embeddings", help="Also serve /v1/embeddings with the MiniLM ONNX embedder (384 dims).")] = False,
        api_key_env: Annotated[str | None, typer.Option(
            "--api-key-env", help="Require clients to send the key held in this environment variable.")] = None,
        cache_dir: CacheOpt = None,
        advertise: Annotated[bool, typer.Option(
            "--advertise/--no-advertise", help="Write a discovery file while serving, so that `deltamem ask` / "
            "`add` use this server instead of loading the same model again (they skip it when "
            "DELTAMEM_REUSE_SERVER=0).")] = True,
        json_out: JsonOpt = False,
    ) -> None:
        """Serve the local GGUF model as an OpenAI-compatible API (chat, and embeddings with --embeddings).

        While it runs, commands that need this same model (`deltamem ask`, `deltamem add` of a conversation) use it
        instead of loading their own copy; see docs/llm.md.
        """
        def body() -> None:
            from deltamem.core import ConfigError
            from deltamem.llm.serve import LLMEndpoint

            api_key = None
            if api_key_env:
                api_key = os.environ.get(api_key_env)
                if not api_key:
                    raise ConfigError(f"--api-key-env {api_key_env}: that environment variable is empty")
            path, name = _resolve(model, cache_dir, progress=not (json_out or OPTS.json))
            embedder = None
            if embeddings:
                try:
                    from deltamem.embed.onnx_minilm import MiniLMEmbedder
                except ImportError as e:
                    raise ConfigError(f"--embeddings needs the 'local' extra: pip install 'deltamem[local]' ({e})"
                                      ) from e
                embedder = MiniLMEmbedder()
            endpoint = LLMEndpoint(path, model_name=name, host=host, port=port, context_size=ctx, threads=threads,
                                   embedder=embedder, api_key=api_key)
            record = _record(host=endpoint.host, port=endpoint.port, name=name, model=model, path=path,
                             context_size=ctx, api_key_env=api_key_env, embeddings=embedder.name if embedder else None)
            with _stop_on_sigterm(), _advertised(record, enabled=advertise) as discovery_file:
                info: dict[str, Any] = {"base_url": endpoint.base_url, "model": name, "path": str(path),
                                        "context_size": ctx, "load_seconds": round(endpoint.load_seconds, 2),
                                        "embeddings": embedder.name if embedder else None,
                                        "embedding_dims": embedder.dim if embedder else None,
                                        "pid": record.pid, "discovery_file": discovery_file and str(discovery_file)}
                if json_out or OPTS.json:
                    render.print_json(info)
                else:
                    render.console.print(f"serving [bold]{name}[/] at [bold]{endpoint.base_url}[/] "
                                         f"(context {ctx}, loaded in {endpoint.load_seconds:.1f}s)")
                    if embedder is not None:
                        render.console.print(f"embeddings: {embedder.name} ({embedder.dim} dims) at the same "
                                             "base_url")
                    if discovery_file is not None:
                        render.console.print(f"deltamem ask / add use this server while it runs ({discovery_file})",
                                             style="dim", markup=False)
                    render.console.print("Ctrl-C to stop", style="dim")
                endpoint.serve_forever()

        run_safely(body)

    @app.command("llm-models")
    def llm_models(
        ensure: Annotated[str | None, typer.Option(
            "--ensure", help="Assemble and verify this packaged model now (prints its path).")] = None,
        cache_dir: CacheOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """List the packaged GGUF models, whether they are installed and where they are assembled."""
        def body() -> None:
            from deltamem.core import ConfigError
            from deltamem.llm.model_files import MODELS, cache_dir_from_env, default_cache_dir, part_files

            directory = cache_dir or cache_dir_from_env(os.environ) or default_cache_dir()
            if ensure is not None:
                path, _ = _resolve(ensure, directory, progress=not (json_out or OPTS.json))
                render.print_json({"model": ensure, "path": str(path)}) if json_out or OPTS.json else print(path)
                return
            rows: list[dict[str, Any]] = []
            for spec in MODELS.values():
                try:
                    installed = bool(part_files(spec.distributions))
                except ConfigError:
                    installed = False
                target = directory / spec.filename
                rows.append({"name": spec.name, "description": spec.description, "size": spec.size,
                             "installed": installed, "sha256": spec.sha256, "extra": spec.extra,
                             "assembled": str(target) if spec.single_file or target.exists() else None})
            if json_out or OPTS.json:
                render.print_json(rows)
                return
            for r in rows:
                hint = MODELS[r["name"]].install_hint
                state = "parts installed" if r["installed"] else f"parts not installed ({hint})"
                where = f"  assembled: {r['assembled']}" if r["assembled"] else ""
                render.console.print(f"[bold]{r['name']}[/]  {r['size'] / 1e6:,.0f} MB  {state}  "
                                     f"{r['description']}{where}")

        run_safely(body)

    @app.command("llm-bench")
    def llm_bench(
        model: ModelOpt = None,
        ctx: Annotated[int, typer.Option("--ctx", help="Context size in tokens.")] = 8192,
        threads: Annotated[int | None, typer.Option(help="CPU threads (default: all cores).")] = None,
        decode_tokens: Annotated[int, typer.Option(help="Tokens to generate per turn.")] = 64,
        cache_dir: CacheOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Measure the local model: load time, prefill and decode speed, and the KV-cache gain on a 2-turn chat."""
        def body() -> None:
            from deltamem.llm.bench import run_bench
            from deltamem.llm.local_gguf import LocalGGUFChatModel

            path, name = _resolve(model, cache_dir, progress=not (json_out or OPTS.json))
            llm = LocalGGUFChatModel(path, name=f"local:{name}", context_size=ctx, threads=threads)
            result = run_bench(llm, decode_tokens=decode_tokens)
            result = {"model": name, "threads": llm.threads, "context_size": ctx, **result}
            if json_out or OPTS.json:
                render.print_json(result)
                return
            for k, v in result.items():
                render.console.print(f"{k:>28}  {v}", markup=False)

        run_safely(body)
