"""Seed personas: the packaged set (written for this project) or a user's JSONL file, and seeded sampling."""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from deltamem.core.errors import ConfigError, CorruptDataError


@dataclass(frozen=True, slots=True)
class Persona:
    """A seed persona: who the synthetic user is before the model enriches them."""

    id: str
    name: str
    age: int
    occupation: str
    location: str
    traits: tuple[str, ...] = ()
    interests: tuple[str, ...] = ()
    family: str = ""

    @property
    def first_name(self) -> str:
        """The given name the prompts use."""
        return self.name.split()[0]

    def describe(self) -> str:
        """One line for prompts: ``Amara Okafor, 29, pharmacist in Lagos, Nigeria; organised, ...``."""
        parts = [f"{self.name}, {self.age}, {self.occupation} in {self.location}"]
        if self.traits:
            parts.append("traits: " + ", ".join(self.traits))
        if self.interests:
            parts.append("interests: " + ", ".join(self.interests))
        if self.family:
            parts.append("family: " + self.family)
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (lists, not tuples)."""
        d = asdict(self)
        d["traits"], d["interests"] = list(self.traits), list(self.interests)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Persona:
        """Parse one persona; raises :class:`CorruptDataError` naming the missing or bad field."""
        try:
            return cls(id=str(data["id"]), name=str(data["name"]), age=int(data["age"]),
                       occupation=str(data["occupation"]), location=str(data["location"]),
                       traits=tuple(str(t) for t in data.get("traits", ())),
                       interests=tuple(str(t) for t in data.get("interests", ())), family=str(data.get("family", "")))
        except (KeyError, TypeError, ValueError) as e:
            raise CorruptDataError(f"bad persona {data.get('id', '?')!r}: {e!r}") from e


def load_personas(path: Path | None = None) -> list[Persona]:
    """The personas of a JSONL file (one object a line), or the packaged seed set when ``path`` is None."""
    if path is None:
        text = resources.files("deltamem.synth").joinpath("data/personas.jsonl").read_text(encoding="utf-8")
        where = "packaged personas.jsonl"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"cannot read personas file {path}: {e}") from e
        where = str(path)
    out: list[Persona] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(Persona.from_dict(json.loads(line)))
        except (json.JSONDecodeError, AttributeError) as e:
            raise CorruptDataError(f"{where}:{n}: not a persona object: {e}") from e
    ids = [p.id for p in out]
    if len(set(ids)) != len(ids):
        raise CorruptDataError(f"{where}: persona ids are not unique")
    return out


def sample_personas(personas: list[Persona], n: int, *, seed: int) -> list[Persona]:
    """``n`` distinct personas drawn with ``random.Random(seed)``; the same seed always gives the same draw."""
    if n < 1:
        raise ConfigError("--personas must be at least 1")
    if n > len(personas):
        raise ConfigError(f"only {len(personas)} seed personas are available; ask for at most that many "
                          "or pass a larger personas file")
    return random.Random(seed).sample(personas, n)
