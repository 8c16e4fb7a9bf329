"""The layers of ``src/deltamem`` hold: no import points up, none crosses between parts of one layer, and no module
imports itself back through others (the contract is :data:`LAYERS`; ``ARCHITECTURE.md`` draws it)."""

from __future__ import annotations

import shutil
from pathlib import Path

from importgraph import cycles, import_graph, layer_violations, part_of

SRC = Path(__file__).resolve().parents[2] / "src"

#: The parts of ``deltamem`` from the bottom up. A part may import the parts of lower layers only; parts sharing a
#: layer are independent of each other. ``""`` is the package's own ``__init__`` (the lazy ``deltamem.Memory``);
#: ``api`` and ``aio`` are the deprecated module paths of the facade.
LAYERS: list[list[str]] = [
    ["_version", "_moved"],  # leaves: the version string; the forwarding of deprecated module paths
    ["core"],  # entries, ops, apply → ChangeSet, errors: pure
    ["wire"],  # the loopback OpenAI-wire HTTP server that embed's fake, llm's endpoints and serve-llm run on
    ["embed", "stores", "datasets"],  # backends of the two kinds that need no model; benchmark data files
    ["llm"],  # chat models (serves embeddings too, so above embed)
    ["agent", "reward"],  # the memory agent; the MLD reward
    ["synth"],  # synthesis of memory-evolution data (scores with the reward)
    ["config"],  # the facade's configuration (pydantic)
    ["registry"],  # provider names → instances, for the edges
    ["facade"],  # Memory / AsyncMemory and the one write path
    ["eval", "train"],  # benchmarks; GRPO training
    ["server", "mcp_server"],  # REST and MCP surfaces
    ["client"],  # the Python client of the REST server
    ["cli"],
    ["", "api", "aio"],
]


def test_src_has_no_upward_import_and_no_cycle() -> None:
    graph = import_graph(SRC, "deltamem")
    assert len(graph) > 100  # the walk found the package
    assert cycles(graph) == []
    assert [str(v) for v in layer_violations(graph, "deltamem", LAYERS)] == []


def test_every_part_of_the_package_has_a_layer() -> None:
    placed = {part for layer in LAYERS for part in layer}
    parts = {part_of(m, "deltamem") for m in import_graph(SRC, "deltamem")}
    assert parts - placed == set()


def _copy(tmp_path: Path) -> Path:
    dest = tmp_path / "src"
    shutil.copytree(SRC / "deltamem", dest / "deltamem", ignore=shutil.ignore_patterns("__pycache__", "*.json",
                                                                                       "*.onnx", "*.txt"))
    return dest


def test_a_planted_upward_import_fails_the_check(tmp_path: Path) -> None:
    src = _copy(tmp_path)
    target = src / "deltamem" / "core" / "model.py"
    target.write_text(target.read_text(encoding="utf-8") + "\n\ndef _planted() -> None:\n"
                      "    from deltamem.facade.memory import Memory  # noqa: F401\n", encoding="utf-8")
    found = [str(v) for v in layer_violations(import_graph(src, "deltamem"), "deltamem", LAYERS)]
    assert found == ["deltamem.core.model imports deltamem.facade.memory: 'core' is below 'facade'"]


def test_a_planted_cycle_and_a_sideways_import_fail_the_check(tmp_path: Path) -> None:
    src = _copy(tmp_path)
    (src / "deltamem" / "stores" / "planted.py").write_text("import deltamem.embed.hashing\n", encoding="utf-8")
    writer = src / "deltamem" / "facade" / "writer.py"
    writer.write_text(writer.read_text(encoding="utf-8") + "\nfrom deltamem.facade import memory  # noqa: E402\n",
                      encoding="utf-8")
    graph = import_graph(src, "deltamem")
    cycle = next(c for c in cycles(graph) if "deltamem.facade.writer" in c)
    assert {"deltamem.facade.memory", "deltamem.facade.writer"} <= set(cycle)
    assert ("deltamem.stores.planted imports deltamem.embed.hashing: 'stores' and 'embed' are independent parts of "
            "one layer") in [str(v) for v in layer_violations(graph, "deltamem", LAYERS)]


def test_a_new_part_must_be_placed_before_it_is_imported(tmp_path: Path) -> None:
    src = _copy(tmp_path)
    (src / "deltamem" / "newpart").mkdir()
    (src / "deltamem" / "newpart" / "__init__.py").write_text("", encoding="utf-8")
    (src / "deltamem" / "newpart" / "x.py").write_text("from deltamem.core import Add\n", encoding="utf-8")
    found = [str(v) for v in layer_violations(import_graph(src, "deltamem"), "deltamem", LAYERS)]
    assert found == ["deltamem.newpart.x imports deltamem.core: 'newpart' is in no layer"]
