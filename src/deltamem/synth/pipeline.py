"""The resumable synthesis run: four checkpointed JSONL stages, then the transitions file and stats.json.

Files in the output directory (each stage appends one line per finished item, keyed by ``key``):

* ``run.json``        the settings; a resumed run must share their identity (personas, sessions, seed, ...)
* ``personas.jsonl``  the sampled seed personas
* ``profiles.jsonl``  step 1, per persona: profile and S_0
* ``timelines.jsonl`` step 2, per persona: dated events
* ``ops.jsonl``       step 3, per event (``p007/e03``): labelled ops
* ``sessions.jsonl``  step 4, per event: the dialogue
* ``transitions.jsonl`` (S_t, session, ops, S*_{t+1}) rows, rebuilt from the stages at the end of every run
* ``stats.json``      see :mod:`deltamem.synth.stats`

Re-running the same command skips every finished item (dropped items count as finished), so an interrupted run
continues where it stopped and makes no LLM call twice for the same item.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from deltamem.core import MemoryState, apply
from deltamem.core.errors import ConfigError
from deltamem.llm.base import ChatModel
from deltamem.synth.config import STAGES, Stage, SynthConfig
from deltamem.synth.jsonio import JsonlCheckpoint, write_jsonl
from deltamem.synth.personas import Persona, load_personas, sample_personas
from deltamem.synth.records import day, id_number, op_from_row, state_from_rows, state_rows
from deltamem.synth.stats import compute_stats
from deltamem.synth.steps import make_dialogue, make_ops, make_profile, make_timeline
from deltamem.synth.validate import LabelledOp

FILES = {"profile": "profiles.jsonl", "timeline": "timelines.jsonl", "ops": "ops.jsonl", "dialogue": "sessions.jsonl"}


@dataclass
class _Replay:
    """A persona's memory state walked forward through its accepted ops (deterministic: ids are in the ops)."""

    state: MemoryState
    origin: dict[str, int | None] = field(default_factory=dict)
    next_id: int = 1

    @classmethod
    def start(cls, profile: Mapping[str, Any]) -> _Replay:
        state = state_from_rows(profile["memories"])
        return cls(state, dict.fromkeys(state), 1 + max((id_number(k) for k in state), default=0))

    def labelled(self, rows: list[dict[str, Any]], when: str) -> list[LabelledOp]:
        out = []
        for r in rows:
            op = op_from_row(r, day(when))
            target = self.state[r["id"]].text if r["op"] == "DELETE" else str(r["text"])
            out.append(LabelledOp(op, tuple(r["keywords"]), r["evolution"], target))  # type: ignore[arg-type]
        return out

    def advance(self, index: int, item: Mapping[str, Any]) -> MemoryState:
        """Apply an accepted ops item; returns the new state (also kept)."""
        ops = [op_from_row(r, day(str(item["date"]))) for r in item["ops"]]
        self.state = apply(self.state, ops, now=day(str(item["date"]))).state
        for r in item["ops"]:
            if r["op"] == "DELETE":
                self.origin.pop(r["id"], None)
            else:
                self.origin[r["id"]] = index
            self.next_id = max(self.next_id, id_number(r["id"]) + 1)
        return self.state


class SynthPipeline:
    """Runs (or resumes) a synthesis into ``out_dir`` with any :class:`ChatModel`.

    ``personas`` overrides the seed set (otherwise ``config.personas_file`` or the packaged personas are used);
    ``progress`` shows tqdm bars on stderr.
    """

    def __init__(self, model: ChatModel, out_dir: Path, config: SynthConfig, *,
                 personas: list[Persona] | None = None, progress: bool = False) -> None:
        self.model = model
        self.out = Path(out_dir)
        self.config = config
        self.progress = progress
        pool = personas if personas is not None else load_personas(config.personas_file)
        self.personas = sample_personas(pool, config.personas, seed=config.seed)
        self._ckpt: dict[str, JsonlCheckpoint] = {}

    def run(self, *, until: Stage = "dialogue", retry_dropped: bool = False) -> dict[str, Any]:
        """Run every stage up to and including ``until``; return the stats (also written to ``stats.json``).

        ``retry_dropped``: give dialogues dropped by an earlier run ``max_tries`` more tries (fresh seeds; the old
        tries stay counted). Only the last stage can be retried: a dropped event's ops decide every later S_t.
        """
        if until not in STAGES:
            raise ConfigError(f"until must be one of {', '.join(STAGES)}")
        self._prepare()
        stages = STAGES[: STAGES.index(until) + 1]
        self._profiles()
        if "timeline" in stages:
            self._timelines()
        if "ops" in stages:
            self._ops()
        if "dialogue" in stages:
            self._dialogues(retry_dropped=retry_dropped)
            write_jsonl(self.out / "transitions.jsonl", list(self.transitions()))
        stats = compute_stats(self.out)
        (self.out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
        return stats

    def _prepare(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        run_file = self.out / "run.json"
        identity = self.config.identity()
        if run_file.exists():
            previous = json.loads(run_file.read_text(encoding="utf-8")).get("identity")
            if previous != identity and not self._grows(previous):
                raise ConfigError(f"{self.out} holds a run with other settings ({previous}); resume it with the "
                                  f"same --personas/--sessions/--seed (a larger --personas only where the run's "
                                  f"personas come first in the larger draw) or use a new directory")
        run_file.write_text(json.dumps({"identity": identity, "config": self.config.to_dict(),
                                        "model": self.model.name}, indent=2) + "\n", encoding="utf-8")
        write_jsonl(self.out / "personas.jsonl", [p.to_dict() for p in self.personas])
        self._ckpt = {stage: JsonlCheckpoint(self.out / name) for stage, name in FILES.items()}

    def _grows(self, previous: Any) -> bool:
        """True when this run only adds personas to ``previous``: same settings otherwise, and the personas
        already drawn are the first ones of this larger draw, so every existing item keeps its key and seed."""
        if not isinstance(previous, dict) or not isinstance(previous.get("personas"), int):
            return False
        mine = self.config.identity()
        if {k: v for k, v in previous.items() if k != "personas"} != {k: v for k, v in mine.items()
                                                                      if k != "personas"}:
            return False
        if previous["personas"] >= mine["personas"]:
            return False
        recorded = self.out / "personas.jsonl"
        if not recorded.exists():
            return False
        ids = [p.id for p in load_personas(recorded)]
        return ids == [p.id for p in self.personas[: len(ids)]]

    def _bar(self, total: int, desc: str, done: int) -> tqdm[Any]:
        return tqdm(total=total, initial=done, desc=desc, unit="item", disable=not self.progress, leave=True)

    def _profiles(self) -> None:
        ck = self._ckpt["profile"]
        with self._bar(len(self.personas), "1 profiles", sum(p.id in ck for p in self.personas)) as bar:
            for p in self.personas:
                if p.id not in ck:
                    ck.append(make_profile(self.model, p, config=self.config))
                    bar.update()

    def _ok_profiles(self) -> Iterator[tuple[Persona, dict[str, Any]]]:
        for p in self.personas:
            item = self._ckpt["profile"].get(p.id)
            if item is not None and item["status"] == "ok":
                yield p, item

    def _timelines(self) -> None:
        ck = self._ckpt["timeline"]
        todo = list(self._ok_profiles())
        with self._bar(len(todo), "2 timelines", sum(p.id in ck for p, _ in todo)) as bar:
            for p, profile in todo:
                if p.id not in ck:
                    ck.append(make_timeline(self.model, p, profile, config=self.config))
                    bar.update()

    def _events(self) -> Iterator[tuple[Persona, dict[str, Any], list[dict[str, Any]]]]:
        for p, profile in self._ok_profiles():
            tl = self._ckpt["timeline"].get(p.id)
            if tl is not None and tl["status"] == "ok":
                yield p, profile, tl["events"]

    def _ops(self) -> None:
        ck = self._ckpt["ops"]
        todo = list(self._events())
        keys = [_key(p, i) for p, _, events in todo for i in range(len(events))]
        with self._bar(len(keys), "3 memory ops", sum(k in ck for k in keys)) as bar:
            for p, profile, events in todo:
                replay = _Replay.start(profile)
                for i, event in enumerate(events):
                    key = _key(p, i)
                    item = ck.get(key)
                    if item is None:
                        item = make_ops(self.model, p, key=key, index=i, event=event, state=replay.state,
                                        origin=replay.origin, next_id=replay.next_id, config=self.config)
                        ck.append(item)
                        bar.update()
                    if item["status"] == "ok":
                        replay.advance(i, item)

    def _walk(self) -> Iterator[tuple[Persona, str, dict[str, Any], MemoryState, dict[str, Any], _Replay]]:
        """Every accepted ops item with S_t; the replay is advanced after the consumer has used S_t."""
        for p, profile, events in self._events():
            replay = _Replay.start(profile)
            for i, event in enumerate(events):
                item = self._ckpt["ops"].get(_key(p, i))
                if item is None or item["status"] != "ok":
                    continue
                before = replay.state
                yield p, _key(p, i), event, before, item, replay
                replay.advance(i, item)

    def _dialogues(self, *, retry_dropped: bool) -> None:
        ck = self._ckpt["dialogue"]

        def done(key: str) -> bool:
            item = ck.get(key)
            return item is not None and not (retry_dropped and item["status"] == "dropped")

        walk = list(self._walk_keys())
        with self._bar(len(walk), "4 dialogues", sum(done(k) for k in walk)) as bar:
            for p, key, event, before, item, replay in self._walk():
                if done(key):
                    continue
                ops = replay.labelled(item["ops"], str(item["date"]))
                prior = ck.get(key)
                ck.append(make_dialogue(self.model, p, key=key, event=event, state=before, ops=ops,
                                        config=self.config, prior=prior), supersede=prior is not None)
                bar.update()

    def _walk_keys(self) -> Iterator[str]:
        for p, _, events in self._events():
            for i in range(len(events)):
                item = self._ckpt["ops"].get(_key(p, i))
                if item is not None and item["status"] == "ok":
                    yield _key(p, i)

    def transitions(self) -> Iterator[dict[str, Any]]:
        """The finished transitions, persona by persona in session order."""
        for p, key, event, before, item, _ in self._walk():
            session = self._ckpt["dialogue"].get(key)
            if session is None or session["status"] != "ok":
                continue
            after = apply(before, [op_from_row(r, day(str(item["date"]))) for r in item["ops"]],
                          now=day(str(item["date"]))).state
            yield {"id": key, "persona_id": p.id, "persona_name": p.name,
                   "session_index": int(item["event_index"]) + 1, "date": str(item["date"]),
                   "event": str(event["summary"]), "state": state_rows(before), "session": session["session"],
                   "ops": item["ops"], "next_state": state_rows(after)}


def _key(p: Persona, index: int) -> str:
    return f"{p.id}/e{index + 1:02d}"
