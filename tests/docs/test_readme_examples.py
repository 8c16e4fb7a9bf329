"""Every code example in README.md runs, in order, or is listed in NOT_RUN with the reason and the test covering it.

How each kind of README code is checked (parsing: ``readme_snippets.py``):

- ```bash``` lines and inline `deltamem ...` commands of the prose: through typer's ``CliRunner`` on
  ``deltamem.cli.main.app``, the app the ``deltamem`` console script runs (in-process: milliseconds a command, and
  the fake LLM below reaches it). Each must exit 0. ``VAR=value`` prefixes become the command's environment;
  absolute paths (``/data/m.db``) are re-rooted under the temporary directory.
- ```python``` blocks: ``exec``'d in order, one namespace per README section (a section's blocks build on each other).
- ```toml``` blocks: loaded with ``deltamem.load_config`` (must validate; the environment is not consulted).

Each section runs in its own temporary HOME and working directory, with every ``DELTAMEM_*`` variable cleared except
``DELTAMEM_EMBEDDER__PROVIDER=hashing``, so ``Memory.from_config()`` and the CLI use a fresh SQLite file under the
temporary ``~/.local/share/deltamem``. No real model runs: the registry's LLM factory returns a scripted fake model
(these tests check that the documented calls work and have the documented shape, not the quality of answers), and
its embedder factory the hashing fake for the default MiniLM (``Memory.from_config()`` without a config reads no
environment; the real MiniLM is tested in tests/embed/test_onnx_minilm.py).

The README shows ids such as ``5d3aa6e9``; PLACEHOLDERS says which command prints the real one, and later commands
get the real id in its place.

To add a README example that cannot run here (an install step, a real model, a server), add its exact line to
NOT_RUN. ``test_every_readme_example_is_run_or_listed`` fails for any code line that is neither run nor listed, and
``test_not_run_table_is_current`` fails for entries that no longer appear in the README.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.docs.readme_snippets import Snippet, env_and_words, parse
from typer.testing import CliRunner

from deltamem import Memory, load_config, registry
from deltamem.cli.main import app
from deltamem.config import EmbedderConfig, LLMConfig
from deltamem.embed.base import Embedder
from deltamem.embed.hashing import HashingEmbedder
from deltamem.llm import ScriptedChatModel

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SNIPPETS = parse(README.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class NotRun:
    """Why a README line is not run here, and which tests cover it instead (``path`` or ``path::test_name``)."""

    reason: str
    covered_by: tuple[str, ...]


_MENTION = "names the command in prose, without its arguments"
#: README code that is not run here. Keys are the line as the README shows it (comment removed, blanks collapsed);
#: a key ending in "*" matches every line starting with the rest. Python / TOML blocks are keyed by their first line.
NOT_RUN: dict[str, NotRun] = {
    "bash scripts/demo.sh": NotRun("creates a venv, installs the local models and runs the real 1.5B GGUF (minutes)",
                                   ("tests/cli/test_demo.py",
                                    "tests/slow/test_local_agent.py::test_local_model_answers_from_memory")),
    "bash scripts/test.sh*": NotRun("runs the whole test suite, this module included", ("scripts/test.sh",)),
    "pip install *": NotRun("installs packages from an index", ("scripts/setup.sh",)),
    "deltamem demo": NotRun("runs the real GGUF model",
                            ("tests/cli/test_demo.py",
                             "tests/slow/test_local_agent.py::test_local_model_answers_from_memory")),
    "deltamem demo --store-only": NotRun("loads the real MiniLM ONNX embedder (the demo picks its own embedder)",
                                         ("tests/cli/test_cli.py::test_demo_runs_with_hashing_embedder",)),
    "deltamem --llm openai:MODEL@http://127.0.0.1:8000/v1 add ...": NotRun(
        "needs an OpenAI-compatible server at 127.0.0.1:8000",
        ("tests/llm/test_llm_openai_compat.py", "tests/synth/test_synth_cli.py::"
         "test_the_same_command_runs_against_an_openai_compatible_endpoint")),
    "deltamem llm-models --ensure qwen2.5-coder-1.5b": NotRun(
        "assembles and hashes the real 1.1 GB model (into the test's temporary HOME)",
        ("tests/llm/test_llm_model_files.py", "tests/llm/test_llm_cli.py")),
    "pip uninstall *": NotRun("uninstalls packages from this environment", (
        "tests/llm/test_llm_model_files.py::test_a_verified_model_is_used_after_its_part_packages_are_uninstalled",)),
    "deltamem --llm local:/path/to/model.gguf ...": NotRun(
        "a synopsis with a placeholder path", ("tests/llm/test_llm_local_gguf.py",)),
    "deltamem serve-llm --embeddings": NotRun("starts a server on the real GGUF model",
                                              ("tests/llm/test_llm_serve.py::test_embeddings_in_both_encodings",)),
    "deltamem review list|show|approve|edit|reject": NotRun("a synopsis of five sub-commands",
                                                            ("tests/agent/test_review_queue.py",)),
    "deltamem serve": NotRun("starts the REST server and blocks",
                             ("tests/server/test_server_cli.py::test_python_m_deltamem_server_serves",)),
    "deltamem export": NotRun(_MENTION, ("tests/cli/test_cli.py::test_export_import_round_trip",)),
    "deltamem import": NotRun(_MENTION, ("tests/cli/test_cli.py::test_export_import_round_trip",)),
    "deltamem reward": NotRun(_MENTION, ("tests/reward/test_reward_cli.py",)),
    "deltamem worker --dsn ...": NotRun("needs PostgreSQL and runs until stopped",
                                        ("tests/server/test_pg_jobs.py", "tests/server/test_server_cli.py::"
                                         "test_worker_command_is_registered")),
    "deltamem mcp --transport stdio|http": NotRun("a synopsis; starts an MCP server",
                                                  ("tests/mcp_server/test_transports.py",)),
    "deltamem synth": NotRun("needs an LLM for every transition",
                             ("tests/synth/test_synth_cli.py::test_bare_synth_runs_like_run",)),
    "deltamem eval locomo|halumem|personamem|longmemeval --systems deltamem,mem0,full,rag": NotRun(
        "a synopsis; benchmark runs need the datasets and LLMs",
        ("tests/eval/test_eval_cli.py::test_cli_locomo_end_to_end",)),
    "deltamem train --config configs/train/...": NotRun("a synopsis; trains a model",
                                                        ("tests/train/test_grpo_smoke.py::test_two_grpo_steps",)),
    "deltamem train eval": NotRun(_MENTION, ("tests/train/test_dryrun_metrics.py",)),
    "deltamem eval scenarios --llm base=hf:A,trained=hf:B": NotRun("needs two trained checkpoints",
                                                                   ("tests/eval/test_scenario_compare.py",)),
}


@dataclass(frozen=True)
class Placeholder:
    """An id the README shows literally: the output of the README command ``shown_by`` (a prefix) holds the real
    one as the first group of ``pattern``."""

    shown_by: str
    pattern: str


PLACEHOLDERS: dict[str, Placeholder] = {
    # the id `deltamem add` prints for its first fact
    "5d3aa6e9": Placeholder('deltamem add "Caroline lives in Boston"', r"\+ Caroline lives in Boston\s+\[(\w{8})\]"),
    # the change set `deltamem update` made (the newest in `deltamem log`)
    "02002b28": Placeholder("deltamem update ", r"change set (\w{12})"),
}

#: Files the examples expect in the working directory.
FILES = {"conversation.json": json.dumps({"sessions": [{"id": "s1", "date": "2024-03-04", "messages": [
    {"speaker": "Caroline", "text": "I adopted a puppy named Rex."}]}]})}


def key_of(s: Snippet) -> str:
    """The text NOT_RUN is keyed by."""
    return s.text if s.kind in ("shell", "inline") else s.text.strip().splitlines()[0]


def not_run_entry(s: Snippet) -> tuple[str, NotRun] | None:
    key = key_of(s)
    for pattern, entry in NOT_RUN.items():
        if key == pattern or (pattern.endswith("*") and key.startswith(pattern[:-1])):
            return pattern, entry
    return None


def runs_here(s: Snippet) -> bool:
    """Whether the section tests run this snippet."""
    if not_run_entry(s) is not None:
        return False
    if s.kind in ("python", "toml"):
        return True
    return s.kind in ("shell", "inline") and env_and_words(s.text)[1][:1] == ["deltamem"]


def untested(snippets: list[Snippet]) -> list[str]:
    """A message for every snippet that is neither run here nor listed in NOT_RUN."""
    return [f"{s.where}: `{key_of(s)}` ({s.lang or s.kind}) is neither run by this test nor listed in NOT_RUN.\n"
            "Only `deltamem ...` commands and ```python / ```toml blocks run here. If it cannot run in a unit test,"
            f" add to NOT_RUN in {Path(__file__).relative_to(ROOT)}:\n"
            f'    {key_of(s)!r}: NotRun("why it cannot run here", ("tests/.../test_x.py::test_that_covers_it",)),'
            for s in snippets if not runs_here(s) and not_run_entry(s) is None]


def test_every_readme_example_is_run_or_listed() -> None:
    problems = untested(SNIPPETS)
    assert not problems, "\n\n".join(problems)


def test_a_new_example_that_does_not_run_here_is_reported() -> None:
    new = parse("## Install\n\n```bash\napt-get remove -y deltamem   # clean up\ndeltamem list --user x\n```\n"
                "Check with `sha256sum model.gguf`.\n\n```yaml\nkey: value\n```\n")
    problems = untested(new)
    assert len(problems) == 3, problems
    assert problems[0].startswith("README.md:4 (Install): `apt-get remove -y deltamem` (bash) is neither run")
    assert "'apt-get remove -y deltamem': NotRun(" in problems[0]
    assert "`sha256sum model.gguf` (inline)" in problems[1] and "(yaml)" in problems[2]


def test_not_run_table_is_current() -> None:
    used = {hit[0] for s in SNIPPETS if (hit := not_run_entry(s)) is not None}
    stale = sorted(set(NOT_RUN) - used)
    assert not stale, f"NOT_RUN entries no longer in README.md (remove them): {stale}"
    for entry in NOT_RUN.values():
        assert entry.covered_by, entry
        for ref in entry.covered_by:
            path, _, name = ref.partition("::")
            assert (ROOT / path).is_file(), f"NOT_RUN names a missing file: {ref}"
            assert not name or f"def {name}(" in (ROOT / path).read_text(encoding="utf-8"), f"no test {ref}"
    text = README.read_text(encoding="utf-8")
    assert all(token in text for token in PLACEHOLDERS), "a PLACEHOLDERS id is no longer in README.md"
    sections = {s.section for s in SNIPPETS if runs_here(s)}
    assert set(CHECKS) <= sections, f"CHECKS for sections without run examples: {set(CHECKS) - sections}"


@dataclass
class SectionRun:
    """What running one README section left behind, for CHECKS."""

    home: Path
    outputs: list[tuple[str, str]] = field(default_factory=list)
    namespace: dict[str, Any] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    llms: list[ScriptedChatModel] = field(default_factory=list)

    def output_of(self, command: str) -> str:
        """The output of the first command starting with ``command``."""
        return next(out for cmd, out in self.outputs if cmd.startswith(command))


def echo_model() -> ScriptedChatModel:
    """The agent's one fact is the session's first message, quoted; questions get "Seattle."."""

    def reply(messages: Any) -> str:
        content = str(messages[-1]["content"])
        if "Question:" in content:
            return "Seattle."
        if str(messages[0]["content"]).startswith("You check whether"):
            return json.dumps({"still_true": True})
        first = next(ln for ln in content.splitlines() if ln.startswith("[0] "))
        speaker, text = first[4:].split(": ", 1)
        return json.dumps({"facts": [f"{speaker} said: {text}"]})

    return ScriptedChatModel(default=reply)


@pytest.fixture
def section_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SectionRun]:
    """A temporary HOME and working directory, the hashing embedder and the scripted LLM."""
    run = SectionRun(home=tmp_path)
    for name in [n for n in os.environ if n.startswith("DELTAMEM_")] + ["XDG_DATA_HOME"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DELTAMEM_EMBEDDER__PROVIDER", "hashing")
    monkeypatch.chdir(tmp_path)
    for name, content in FILES.items():
        (tmp_path / name).write_text(content, encoding="utf-8")

    def build_chat_model(cfg: LLMConfig, **_: Any) -> ScriptedChatModel | None:  # stands in for any provider
        if cfg.provider == "none":
            return None
        run.llms.append(echo_model())
        return run.llms[-1]

    def build_embedder(cfg: EmbedderConfig) -> Embedder:
        return HashingEmbedder(dim=cfg.hashing_dim) if cfg.provider == "minilm" else real_build_embedder(cfg)

    real_build_embedder = registry.build_embedder
    monkeypatch.setattr(registry, "build_chat_model", build_chat_model)
    monkeypatch.setattr(registry, "build_embedder", build_embedder)
    yield run
    for value in run.namespace.values():
        if isinstance(value, Memory):
            value.close()


def run_command(s: Snippet, run: SectionRun) -> None:
    command = s.text
    for token, placeholder in PLACEHOLDERS.items():
        if token in command:
            assert token in run.ids, f"{s.where}: {token} is used before `{placeholder.shown_by}` printed it"
            command = command.replace(token, run.ids[token])
    words = shlex.split(command)
    env: dict[str, str | None] = {}
    while words and re.match(r"^[A-Za-z_]\w*=", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = reroot(value, run.home)
    assert words[0] == "deltamem", s
    result = CliRunner().invoke(app, [reroot(w, run.home) for w in words[1:]], env=env)
    assert result.exit_code == 0, f"{s.where}: `{s.text}` exited {result.exit_code}:\n{result.output}" + (
        f"\n{result.exception!r}" if result.exception and not isinstance(result.exception, SystemExit) else "") + (
        "\n(fix the README or the CLI; an example that cannot run in a unit test belongs in NOT_RUN)")
    run.outputs.append((s.text, result.output))
    for token, placeholder in PLACEHOLDERS.items():
        if token not in run.ids and s.text.startswith(placeholder.shown_by):
            found = re.search(placeholder.pattern, result.output)
            assert found, f"{s.where}: the output of `{s.text}` shows no id for {token}:\n{result.output}"
            run.ids[token] = found.group(1)


def reroot(word: str, home: Path) -> str:
    """An absolute path of an example, moved under the temporary directory."""
    return str(home / "root" / word.lstrip("/")) if word.startswith("/") and len(word) > 1 else word


def run_snippet(s: Snippet, run: SectionRun) -> None:
    if s.kind == "python":
        # padded so that a traceback names the README's own line numbers
        exec(compile("\n" * (s.line - 1) + s.text, str(README), "exec"), run.namespace)
    elif s.kind == "toml":
        path = run.home / f"readme-{s.line}.toml"
        path.write_text(s.text, encoding="utf-8")
        run.namespace[f"toml:{s.line}"] = load_config(path, env={})
    else:
        run_command(s, run)


def _quickstart(run: SectionRun) -> None:
    m = run.namespace["m"]
    assert sorted(e.text for e in m.get_all(user_id="caroline")) == [
        "Caroline is a nurse", "Caroline lives in Seattle", "Caroline started pottery"]
    assert (run.home / ".local/share/deltamem/memory.db").is_file()  # the path the README's comment names
    assert (run.home / "caroline.jsonl").is_file()


def _command_line(run: SectionRun) -> None:
    listed = json.loads(run.output_of("deltamem list --user caroline --json"))["results"]
    assert [e["text"] for e in listed] == ["Caroline lives in Boston", "Caroline is a nurse"]
    assert "rank score" in run.output_of("deltamem search ")
    assert "(was: Caroline moved to Seattle)" in run.output_of("deltamem revert ")  # the update's change set
    assert re.search(r"imported [1-9]\d* records", run.output_of("deltamem import "))
    keyword = run.output_of("deltamem search Boston ")  # the prose example, after import brought Boston back
    assert "BM25" in keyword and "Caroline lives in Boston" in keyword


def _configuration(run: SectionRun) -> None:
    (cfg,) = [v for k, v in run.namespace.items() if k.startswith("toml:")]
    assert (cfg.search_mode, cfg.store.provider, cfg.embedder.provider) == ("hybrid", "sqlite", "openai")
    assert (run.home / "root/data/m.db").is_file()  # DELTAMEM_STORE__PATH=/data/m.db was honoured


def _conversations(run: SectionRun) -> None:
    res = run.namespace["res"]
    (added,) = [c.after.text for c in res.change_set.changes if c.kind == "ADD" and c.after]
    assert "Seattle" in added and "last week" not in added  # relative dates become absolute (session_date)
    assert res.agent.usage.calls >= 1
    assert sum("Question:" in str(r["messages"][-1]["content"]) for m in run.llms for r in m.requests) == 2
    assert "Seattle." in run.output_of("deltamem ask ")
    assert "I adopted a puppy named Rex." in run.output_of("deltamem add conversation.json ")


def _server(run: SectionRun) -> None:
    assert re.search(r"key \S+ for tenant acme:", run.output_of("deltamem keys create --tenant acme"))


#: Per README section: what must hold after its examples ran (values, not just exit codes).
CHECKS: dict[str, Callable[[SectionRun], None]] = {
    "Quickstart (Python)": _quickstart,
    "Command line": _command_line,
    "Configuration": _configuration,
    "Conversations, the agent, and answering": _conversations,
    "Server, MCP, PostgreSQL, evaluation, training": _server,
}

SECTIONS = list(dict.fromkeys(s.section for s in SNIPPETS if runs_here(s)))


@pytest.mark.parametrize("section", SECTIONS)
def test_readme_section_examples_run(section: str, section_run: SectionRun) -> None:
    for s in SNIPPETS:
        if s.section == section and runs_here(s):
            run_snippet(s, section_run)
    if section in CHECKS:
        CHECKS[section](section_run)
