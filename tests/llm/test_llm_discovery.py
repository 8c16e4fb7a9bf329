"""Discovery files of ``serve-llm``: written 0600, removed on exit, stale ones cleaned; probing over real HTTP."""

from __future__ import annotations

import json
import os
import socket
import stat
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fake_openai import FakeChatServer
from serve_records import closed_port, dead_pid, make_record

from deltamem.llm.discovery import (
    ServerRecord,
    advertise,
    client_url,
    probe,
    read_records,
    record_path,
    runtime_dir,
    write_record,
)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        yield s.getsockname()[1]


def test_record_file_is_private_and_holds_no_key(tmp_path: Path) -> None:
    directory = tmp_path / "run"
    record = make_record(api_key_env="MY_KEY")
    path = write_record(record, directory)
    assert path == record_path(directory, os.getpid())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    data = json.loads(path.read_text())
    assert data["api_key_required"] is True and data["api_key_env"] == "MY_KEY"
    assert not any("secret" in str(v) for v in data.values())
    assert ServerRecord.from_json(data) == record
    assert [p.name for p in directory.iterdir()] == [path.name]  # no temp file left behind


def test_advertise_removes_the_file_even_on_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), advertise(make_record(), tmp_path) as path:
        assert path is not None and path.exists()
        raise RuntimeError("server crashed")
    assert path is not None and not path.exists()


def test_advertise_survives_an_unwritable_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with advertise(make_record(), blocker / "run") as path:
        assert path is None


def test_read_records_cleans_dead_pids_and_skips_junk(tmp_path: Path) -> None:
    live_old = make_record(started="2025-01-01T00:00:00+00:00")
    write_record(live_old, tmp_path)
    gone = write_record(make_record(pid=dead_pid()), tmp_path)
    parent = os.getppid()
    write_record(make_record(pid=parent, started="2025-06-01T00:00:00+00:00"), tmp_path)
    (tmp_path / "serve-llm-1.json").write_text("{not json")  # pid 1 is alive: kept, skipped
    other = make_record(pid=parent).to_json() | {"format": 99}
    (tmp_path / f"serve-llm-{parent}.json").write_text(json.dumps(other))  # another format: skipped
    records = read_records(tmp_path)
    assert [r.pid for r in records] == [os.getpid()]
    assert not gone.exists()
    assert (tmp_path / "serve-llm-1.json").exists()
    write_record(make_record(pid=parent, started="2025-06-01T00:00:00+00:00"), tmp_path)
    assert [r.pid for r in read_records(tmp_path)] == [parent, os.getpid()]  # newest first


def test_a_file_naming_another_pid_than_its_record_is_skipped(tmp_path: Path) -> None:
    path = write_record(make_record(), tmp_path)
    path.write_text(json.dumps(make_record(pid=os.getppid()).to_json()))
    assert read_records(tmp_path) == []


def test_runtime_dir_prefers_xdg(tmp_path: Path) -> None:
    assert runtime_dir({"XDG_RUNTIME_DIR": str(tmp_path), "HOME": "/h"}) == tmp_path / "deltamem"
    assert runtime_dir({"HOME": str(tmp_path)}) == tmp_path / ".cache/deltamem/run"


def test_client_url_turns_wildcards_into_loopback() -> None:
    assert client_url("0.0.0.0", 8011) == "http://127.0.0.1:8011/v1"
    assert client_url("::", 9) == "http://[::1]:9/v1"
    assert client_url("127.0.0.1", 8011) == "http://127.0.0.1:8011/v1"


def test_probe_healthy_wrong_model_and_key() -> None:
    with FakeChatServer(api_key="k", models=("qwen2.5-coder-1.5b",)) as fake:
        record = make_record(fake.base_url)
        assert probe(record, api_key="k").ok
        unauthorised = probe(record, api_key=None)
        assert not unauthorised.ok and "401" in unauthorised.reason and not unauthorised.gone
        other = probe(replace(record, model="smollm2-135m"), api_key="k")
        assert not other.ok and "smollm2-135m" in other.reason and not other.gone


def test_probe_refused_is_gone_and_silence_is_not(silent_port: int) -> None:
    refused = probe(make_record(f"http://127.0.0.1:{closed_port()}/v1"), timeout=0.5)
    assert not refused.ok and refused.gone
    silent = probe(make_record(f"http://127.0.0.1:{silent_port}/v1"), timeout=0.2)
    assert not silent.ok and not silent.gone and "0.2" in silent.reason
