"""choose_server: when a running serve-llm is used instead of loading the model, against FakeChatServer over HTTP."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_openai import FakeChatServer, completion
from serve_records import closed_port, dead_pid, make_record

from deltamem.config import LLMConfig
from deltamem.core.errors import ConfigError
from deltamem.llm._request import build_request
from deltamem.llm.base import ChatRequest
from deltamem.llm.cache import request_key
from deltamem.llm.discovery import ServerRecord, record_path, write_record
from deltamem.llm.local_gguf import DEFAULT_SAMPLING
from deltamem.llm.model_files import MODELS
from deltamem.llm.reuse import choose_server, reuse_enabled, serves
from deltamem.registry import build_chat_model

DEFAULT = "qwen2.5-coder-1.5b"
USER = [{"role": "user", "content": "Where does Caroline live?"}]


@pytest.fixture
def fake() -> Iterator[FakeChatServer]:
    with FakeChatServer(api_key=None, models=(DEFAULT,), default=(200, completion("Seattle."))) as s:
        yield s


def choose(directory: Path, model: str | None = None, *, context_size: int = 8192,
           env: dict[str, str] | None = None, timeout: float = 2.0):  # type: ignore[no-untyped-def]
    return choose_server(model, context_size=context_size, env=env or {}, directory=directory, timeout=timeout)


def test_same_model_is_reused(tmp_path: Path, fake: FakeChatServer) -> None:
    record = write_record(make_record(fake.base_url, sha256=MODELS[DEFAULT].sha256), tmp_path)
    choice = choose(tmp_path)
    assert choice.record is not None and choice.record.base_url == fake.base_url
    assert choice.describe(None) == f"using the running serve-llm at {fake.base_url} (pid {os.getpid()})"
    assert fake.gets == 1 and record.exists()
    assert choose(tmp_path, DEFAULT).record is not None  # the default model named explicitly


def test_no_server_loads_in_process(tmp_path: Path) -> None:
    choice = choose(tmp_path / "empty")
    assert choice.record is None
    assert choice.describe(None).startswith(f"loading {DEFAULT} in this process (no serve-llm is running")


def test_another_model_loads_in_process(tmp_path: Path, fake: FakeChatServer) -> None:
    write_record(make_record(fake.base_url, packaged="smollm2-135m", model="smollm2-135m"), tmp_path)
    choice = choose(tmp_path)
    assert choice.record is None and "serves smollm2-135m, not qwen2.5-coder-1.5b" in choice.reason
    assert fake.gets == 0  # decided from the file, no request
    write_record(make_record(fake.base_url, sha256="0" * 64), tmp_path)  # same name, other file
    assert choose(tmp_path).record is None


def test_same_file_by_path(tmp_path: Path, fake: FakeChatServer) -> None:
    gguf = tmp_path / "my.gguf"
    gguf.write_bytes(b"GGUF")
    (tmp_path / "link.gguf").symlink_to(gguf)
    write_record(make_record(fake.base_url, packaged=None, path=str(gguf)), tmp_path / "run")
    assert choose(tmp_path / "run", str(tmp_path / "link.gguf")).record is not None
    assert choose(tmp_path / "run").record is None  # the default packaged model is not that file
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF")
    assert choose(tmp_path / "run", str(other)).record is None


def test_dead_pid_is_cleaned(tmp_path: Path, fake: FakeChatServer) -> None:
    path = write_record(make_record(fake.base_url, pid=dead_pid()), tmp_path)
    assert choose(tmp_path).record is None
    assert not path.exists() and fake.gets == 0


def test_refusing_server_is_cleaned(tmp_path: Path) -> None:
    refused = write_record(make_record(f"http://127.0.0.1:{closed_port()}/v1"), tmp_path)
    choice = choose(tmp_path, timeout=0.5)
    assert choice.record is None and "refused" in choice.reason and not refused.exists()


def test_unhealthy_server_is_skipped_not_deleted(tmp_path: Path) -> None:
    with FakeChatServer(api_key=None, models=("something-else",)) as wrong:
        path = write_record(make_record(wrong.base_url), tmp_path)
        choice = choose(tmp_path)
        assert choice.record is None and "not 'qwen2.5-coder-1.5b'" in choice.reason and path.exists()


def test_opt_out(tmp_path: Path, fake: FakeChatServer) -> None:
    write_record(make_record(fake.base_url), tmp_path)
    for value in ("0", "false", "OFF", "no"):
        choice = choose(tmp_path, env={"DELTAMEM_REUSE_SERVER": value})
        assert choice.record is None and "DELTAMEM_REUSE_SERVER" in choice.reason
    assert fake.gets == 0
    assert choose(tmp_path, env={"DELTAMEM_REUSE_SERVER": "1"}).record is not None
    with pytest.raises(ConfigError, match="DELTAMEM_REUSE_SERVER"):
        reuse_enabled({"DELTAMEM_REUSE_SERVER": "maybe"})


def test_smaller_context_loads_in_process(tmp_path: Path, fake: FakeChatServer) -> None:
    write_record(make_record(fake.base_url, context_size=4096), tmp_path)
    choice = choose(tmp_path, context_size=8192)
    assert choice.record is None and "4096-token context, 8192 configured" in choice.reason


def test_key_required_is_read_from_the_named_variable(tmp_path: Path) -> None:
    with FakeChatServer(api_key="sekret", models=(DEFAULT,)) as keyed:
        write_record(make_record(keyed.base_url, api_key_env="SERVE_KEY"), tmp_path)
        missing = choose(tmp_path)
        assert missing.record is None and "$SERVE_KEY" in missing.reason and keyed.gets == 0
        choice = choose(tmp_path, env={"SERVE_KEY": "sekret"})
        assert choice.record is not None and choice.api_key == "sekret"
        assert choice.chat_model().chat(USER).content == "ok"
        assert choose(tmp_path, env={"SERVE_KEY": "wrong"}).record is None


def test_newest_matching_server_wins(tmp_path: Path, fake: FakeChatServer) -> None:
    write_record(make_record(fake.base_url, started="2025-05-01T00:00:00+00:00"), tmp_path)
    with FakeChatServer(api_key=None, models=(DEFAULT,)) as newer:
        write_record(make_record(newer.base_url, pid=os.getppid(), started="2025-06-01T00:00:00+00:00"), tmp_path)
        choice = choose(tmp_path)
        assert choice.record is not None and choice.record.base_url == newer.base_url


def test_requests_carry_the_in_process_sampling(tmp_path: Path, fake: FakeChatServer) -> None:
    write_record(make_record(fake.base_url), tmp_path)
    choice = choose(tmp_path)
    model = choice.chat_model()
    assert model.name == f"local:{DEFAULT}" and model.supports_tools is False
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert model.chat(USER, max_tokens=64, stop=["\n\n"], seed=3, json_schema=schema).content == "Seattle."
    sent = dict(fake.requests[0])
    # What LocalGGUFChatModel hands to llama.cpp for the same call (local_gguf.chat): build_request + sampling.
    in_process = (build_request(ChatRequest(USER, json_schema=schema, max_tokens=64, stop=["\n\n"], seed=3))
                  | dict(DEFAULT_SAMPLING) | {"cache_prompt": True})
    assert sent.pop("model") == DEFAULT
    sent["response_format"]["json_schema"].pop("strict")  # llama.cpp ignores "strict"
    in_process["response_format"]["json_schema"].pop("strict")
    assert sent == in_process
    assert sent["dry_multiplier"] == 0.8


def test_registry_keeps_the_cache_key_of_the_in_process_model(tmp_path: Path, fake: FakeChatServer) -> None:
    write_record(make_record(fake.base_url), tmp_path / "run")
    cfg = LLMConfig(cache_dir=tmp_path / "cache")
    served = build_chat_model(cfg, running_server=lambda: choose(tmp_path / "run").chat_model())
    in_process = build_chat_model(cfg)
    assert served is not None and in_process is not None and served.name == in_process.name == "local:default"
    assert served.chat(USER).content == "Seattle."
    key = request_key("local:default", ChatRequest(USER))
    entry = tmp_path / "cache" / key[:2] / f"{key}.json"
    assert json.loads(entry.read_text())["response"]["content"] == "Seattle."


def test_serves_checks_the_sha256_when_recorded() -> None:
    spec = MODELS[DEFAULT]
    record: ServerRecord = make_record(sha256=spec.sha256)
    assert serves(record, None) and serves(record, DEFAULT)
    assert not serves(make_record(sha256="f" * 64), DEFAULT)
    assert not serves(record, "qwen2.5-coder-0.5b")
    assert record_path(Path("/r"), 7) == Path("/r/serve-llm-7.json")
