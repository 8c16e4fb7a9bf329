"""Shared machinery of the load and fault tests and of ``bench/load_bench.py``: the real server in a subprocess, a
slow OpenAI-compatible agent stub, and the consistency check of a namespace after a run.

Nothing here mocks deltamem: the server is ``deltamem serve`` (uvicorn) started exactly as a user would, and it is
only spoken to over HTTP.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from deltamem.llm.openai_wire import OpenAIEndpoint
from deltamem.llm.scripted import ScriptedChatModel

ADMIN_KEY = "load-test-admin-key-0123456789"
TENANT = "load"


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def deltamem_cmd() -> list[str]:
    """The installed ``deltamem`` console script (falls back to the entry point through this interpreter)."""
    script = Path(sys.executable).parent / "deltamem"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from deltamem.cli.main import main; main()"]


@dataclass
class ServerSpec:
    """How to start a server: the store (``sqlite`` in ``data_dir`` or ``postgres`` at ``dsn``) and the LLM."""

    data_dir: Path
    store: str = "sqlite"
    dsn: str | None = None
    llm: str = "none"
    workers: int = 1
    rate_per_s: float | None = None  # None: the server's default (20/s per key, bursts of 60)
    env: dict[str, str] = field(default_factory=dict)

    def global_args(self) -> list[str]:
        """The options that come before ``serve`` / ``keys`` (the store, embedder and LLM)."""
        args = ["--embedder", "hashing", "--llm", self.llm]
        if self.store == "sqlite":
            args = ["--db", str(self.data_dir / "memory.db"), *args]
        return args

    def store_args(self) -> list[str]:
        """``--store/--dsn/--state-db`` (shared by ``serve`` and ``keys``)."""
        args = ["--state-db", str(self.data_dir / "server.db")]
        if self.store == "postgres":
            assert self.dsn, "the postgres store needs a dsn"
            args += ["--store", "postgres", "--dsn", self.dsn]
        return args


class ServerProcess:
    """``deltamem serve`` in a subprocess on a free loopback port. Always :meth:`stop` it (a ``finally``)."""

    def __init__(self, spec: ServerSpec, *, port: int | None = None) -> None:
        self.spec = spec
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        spec.data_dir.mkdir(parents=True, exist_ok=True)
        self._log_path = spec.data_dir / f"server-{self.port}.log"
        # SlowAgentLLM speaks the whole-session reply protocol, so the server's agent runs in that mode.
        env = {**os.environ, "DELTAMEM_ADMIN_KEY": ADMIN_KEY, "DELTAMEM_HOME": str(spec.data_dir),
               "DELTAMEM_AGENT__MODE": "session", **spec.env}
        if spec.rate_per_s is not None:
            env["DELTAMEM_SERVER__RATE_PER_S"] = str(spec.rate_per_s)
        cmd = [*deltamem_cmd(), *spec.global_args(), "serve", "--host", "127.0.0.1", "--port", str(self.port),
               "--workers-in-process", str(spec.workers), "--log-level", "warning", *spec.store_args()]
        self._log = open(self._log_path, "wb")  # noqa: SIM115 -- closed in stop()
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_ready(self, timeout: float = 45.0) -> None:
        """Poll ``/healthz`` until it answers 200; fail with the server's log if it died or took too long."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"server did not start (exit {self.proc.returncode}):\n{self.log_tail()}")
            time.sleep(0.1)

    def sigkill(self) -> None:
        """Kill the server at once (no shutdown handlers run)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        """Terminate (then kill) the server; idempotent."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.sigkill()
        if not self._log.closed:
            self._log.close()

    def log_tail(self, n: int = 4000) -> str:
        """The end of the server's output."""
        try:
            return self._log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def create_key_cli(spec: ServerSpec, *, tenant: str = TENANT) -> str:
    """A tenant key made by ``deltamem --json keys create`` against the spec's server database."""
    out = subprocess.run([*deltamem_cmd(), *spec.global_args(), "--json", "keys", "create", "--tenant", tenant,
                          "--label", "load-test", *spec.store_args()],
                         capture_output=True, text=True, timeout=60, env={**os.environ,
                                                                          "DELTAMEM_HOME": str(spec.data_dir)})
    assert out.returncode == 0, out.stdout + out.stderr
    return str(json.loads(out.stdout)["key"])


def create_keys_admin(base_url: str, n: int, *, tenant: str = TENANT) -> list[str]:
    """``n`` tenant keys made through the admin API (``POST /v1/admin/keys``)."""
    h = {"Authorization": f"Bearer {ADMIN_KEY}"}
    keys = []
    for i in range(n):
        r = httpx.post(f"{base_url}/v1/admin/keys", json={"tenant": tenant, "label": f"client-{i}"}, headers=h,
                       timeout=30)
        assert r.status_code == 201, r.text
        keys.append(str(r.json()["key"]))
    return keys


# -- the agent stub ------------------------------------------------------------------------------------------------
_LINE = re.compile(r"^\[(\d+)\] [^:]+: (.*)$")


class SlowAgentLLM(OpenAIEndpoint):
    """An OpenAI-compatible ``/v1/chat/completions`` endpoint on 127.0.0.1 (deltamem's OpenAIEndpoint over a
    ScriptedChatModel, no key) that answers the memory agent after ``delay_s`` with ``{"ops": [ADD <message text>
    ...]}``, one ADD per session line.

    The delay keeps ingestion jobs in flight long enough to kill the server under them. ``calls`` counts requests.
    """

    def __init__(self, *, delay_s: float = 1.0) -> None:
        self.delay_s = delay_s
        self.agent = ScriptedChatModel(name="fake-agent", default=self._delayed)
        super().__init__(self.agent, api_key="")

    @property
    def calls(self) -> int:
        """Requests answered (or being answered) so far."""
        return len(self.agent.requests)

    @property
    def spec(self) -> str:
        """The ``--llm`` value that points the server here."""
        return f"openai:fake-agent@{self.base_url}"

    @staticmethod
    def reply(messages: Sequence[Mapping[str, Any]]) -> str:
        """The ops JSON for the agent's prompt: every transcript line of the session becomes one ADD."""
        prompt = str(messages[1]["content"]) if len(messages) > 1 else ""
        texts = [m.group(2) for ln in prompt.splitlines() if (m := _LINE.match(ln))]
        return json.dumps({"ops": [{"op": "ADD", "text": t} for t in texts]})

    def _delayed(self, messages: Sequence[Mapping[str, Any]]) -> str:
        time.sleep(self.delay_s)
        return self.reply(messages)


# -- reading a namespace back and checking it --------------------------------------------------------------------
def _get(c: httpx.Client, path: str, params: dict[str, Any]) -> httpx.Response:
    for _ in range(20):
        r = c.get(path, params=params)
        if r.status_code != 429:
            return r
        time.sleep(min(float(r.headers.get("retry-after", "1")), 2.0))
    return r


def get_json(c: httpx.Client, path: str, **params: Any) -> Any:
    """GET a JSON answer (asserting 200); a 429 is waited out as the server says."""
    r = _get(c, path, params)
    assert r.status_code == 200, f"GET {path} {params}: {r.status_code} {r.text[:500]}"
    return r.json()


def live_memories(c: httpx.Client, user_id: str) -> dict[str, str]:
    """Every live memory of ``user:<user_id>``: id -> text (all pages)."""
    out: dict[str, str] = {}
    offset: int | None = 0
    while offset is not None:
        page = get_json(c, "/v1/memories", user_id=user_id, limit=500, offset=offset)
        out.update({m["id"]: m["text"] for m in page["items"]})
        offset = page["next_offset"]
    return out


@dataclass
class NamespaceCheck:
    """What :func:`check_namespace` found: sizes, for the report."""

    change_sets: int
    history_records: int
    live: int


def check_namespace(c: httpx.Client, user_id: str, acked: Sequence[dict[str, Any]], *,
                    exact: bool = True) -> NamespaceCheck:
    """Assert that ``user:<user_id>`` is the replay of its change sets and holds every acknowledged one.

    - every acknowledged change set (a 2xx ChangeSetOut) is in the change-set log, and its changes are exactly the
      history records of that change set (memory, kind, text after);
    - with ``exact``, no change set was committed that nobody had acknowledged;
    - replaying the history in commit order (``seq``) is consistent (an ADD of a new id; an UPDATE / DELETE whose
      ``before`` is the text the replay holds then, so no write was lost or overwritten unseen), and its result is
      exactly the live state.
    """
    committed = {cs["id"]: cs for cs in get_json(c, "/v1/change-sets", user_id=user_id)["items"]}
    history = sorted(get_json(c, "/v1/history", user_id=user_id)["items"], key=lambda h: h["seq"])
    live = live_memories(c, user_id)
    by_cs: dict[str, list[tuple[str, str, str | None]]] = {}
    for h in history:
        by_cs.setdefault(h["change_set_id"], []).append(
            (h["memory_id"], h["kind"], h["after"]["text"] if h["after"] else None))
    acked_ids = set()
    for cs in acked:
        if not cs["changes"]:
            continue  # an empty change set is answered but never committed
        acked_ids.add(cs["id"])
        assert cs["id"] in committed, f"{user_id}: acknowledged change set {cs['id']} is not in the log"
        mine = sorted((ch["memory_id"], ch["kind"], ch["after"]["text"] if ch["after"] else None)
                      for ch in cs["changes"])
        assert mine == sorted(by_cs.get(cs["id"], [])), f"{user_id}: history of {cs['id']} differs from its answer"
    if exact:
        phantom = set(committed) - acked_ids
        assert not phantom, (f"{user_id}: {len(phantom)} committed change sets nobody acknowledged: "
                             f"{sorted(phantom)[:3]}")
    assert set(by_cs) == set(committed), f"{user_id}: history and change-set log name different change sets"
    state: dict[str, str] = {}
    for h in history:
        mid, kind = h["memory_id"], h["kind"]
        if kind == "ADD":
            assert mid not in state, f"{user_id}: seq {h['seq']} adds {mid}, which is already live"
        else:
            assert state.get(mid) == h["before"]["text"], (
                f"{user_id}: seq {h['seq']} {kind} of {mid} saw {h['before']['text']!r}, replay holds "
                f"{state.get(mid)!r}: a write was lost")
        if kind == "DELETE":
            del state[mid]
        else:
            state[mid] = h["after"]["text"]
    assert state == live, (f"{user_id}: live state differs from the replay of its history: "
                           f"{len(set(state) ^ set(live))} ids differ")
    return NamespaceCheck(len(committed), len(history), len(live))


def export_imports_cleanly(c: httpx.Client, user_id: str) -> int:
    """Export ``user:<user_id>`` over HTTP and import it into a fresh in-process SQLite memory (which validates the
    whole file first); return the records imported."""
    import tempfile

    from deltamem.embed.hashing import HashingEmbedder
    from deltamem.facade.memory import Memory
    from deltamem.stores.sqlite import SqliteStore

    r = _get(c, "/v1/export", {"user_id": user_id})
    assert r.status_code == 200, r.text[:500]
    header = json.loads(r.text.splitlines()[0])
    with tempfile.TemporaryDirectory() as d:
        dim = int(header.get("embedding_dim") or 64)
        with Memory(store=SqliteStore(Path(d) / "copy.db"), embedder=HashingEmbedder(dim=dim)) as m:
            n = m.import_(io.StringIO(r.text))
            ns = header["namespaces"][0]
            assert {e.id: e.text for e in m.get_all(namespace=ns)} == live_memories(c, user_id)
    return n
