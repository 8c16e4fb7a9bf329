"""The training run's settings: one frozen dataclass per TOML table, read and checked by :func:`load_train_config`.

A config file (``configs/train/*.toml``) has the tables ``[model]``, ``[lora]``, ``[grpo]``, ``[sft]``, ``[data]``,
``[reward]``, ``[agent]``, ``[output]`` and optionally ``[launch]`` (GPU scale-out). ``[grpo]`` and ``[sft]`` take
any field of TRL's ``GRPOConfig`` / ``SFTConfig`` under TRL's own name besides deltamem's few keys (see
:mod:`deltamem.train.trl_tables`). Unknown keys are errors, so a
typo never silently falls back to a default, and so are values of the wrong type (the fields use pydantic's strict
types: ``max_steps = "50"`` is not an int; an int is a float). The file is read by
:func:`deltamem.config.settings.read_settings` like every other config. Relative paths are resolved against the
working directory (the repo root is where the scripts run).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    create_model,
)
from pydantic_core import ErrorDetails

from deltamem.core.errors import ConfigError
from deltamem.train.trl_tables import GRPOSpec, SFTSpec, TRLTable, spec_from_table, table_model


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """The policy. ``base``: a packaged GGUF name (``smollm2-135m``: converted once to transformers and cached), a
    local transformers directory, or a hub id (GPU machines). ``dtype``: float32 on CPU, bfloat16 on GPU."""

    base: StrictStr = "smollm2-135m"
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    attn_implementation: StrictStr | None = None  # e.g. "flash_attention_2" on GPU; None lets transformers choose
    gradient_checkpointing: StrictBool = False
    cpu_threads: StrictInt = 0  # torch threads on CPU; 0 = torch default. 1 is faster on a busy 2-core machine


@dataclass(frozen=True, slots=True)
class LoraSpec:
    """LoRA adapters (peft); ``enabled = false`` trains every weight (full fine-tuning)."""

    enabled: StrictBool = True
    r: StrictInt = 16
    alpha: StrictInt = 32
    dropout: StrictFloat = 0.05
    target_modules: tuple[StrictStr, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True, slots=True)
class DataSpec:
    """Where the transitions are and which of them to train on.

    ``path``: a synthesis output directory (``transitions.jsonl`` inside) or the file itself. Held-out personas
    (``eval_personas`` of them, drawn with ``split_seed``) form the eval split, so no persona's sessions leak into
    training. The curriculum limits (0 = no limit) keep CPU runs short: small S_t, few ops, short sessions.
    """

    path: StrictStr = "data/synth"
    eval_personas: StrictInt = 1
    split_seed: StrictInt = 0
    max_state_memories: StrictInt = 0
    max_ops: StrictInt = 0
    max_session_turns: StrictInt = 0
    max_train_examples: StrictInt = 0
    max_eval_examples: StrictInt = 0
    validate: StrictBool = True  # re-check every transition with deltamem.synth before training


@dataclass(frozen=True, slots=True)
class RewardSpec:
    """The MLD reward (``deltamem.reward``): embedder and credit variant."""

    embedder: Literal["minilm", "hashing"] = "minilm"
    credit: Literal["product", "threshold", "min"] = "product"
    threshold: StrictFloat = 0.8
    use_keywords: StrictBool = True


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """The seed search that fills the first (and usually only) agent prompt, as in ``deltamem.agent``."""

    seed_k: StrictInt = 3
    max_seed_memories: StrictInt = 16


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """Where checkpoints, ``metrics.csv`` and ``reward_curve.png`` go."""

    dir: StrictStr = "runs/train"
    save_total_limit: StrictInt = 2


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    """GPU scale-out (read by ``scripts/train_gpu.sh`` and checked by ``--dry-run``)."""

    accelerate_config: StrictStr | None = None
    num_processes: StrictInt = 1
    min_gpu_memory_gib: StrictFloat = 0.0


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """A whole training run."""

    model: ModelSpec = field(default_factory=ModelSpec)
    lora: LoraSpec = field(default_factory=LoraSpec)
    grpo: GRPOSpec = field(default_factory=GRPOSpec)
    sft: SFTSpec = field(default_factory=SFTSpec)
    data: DataSpec = field(default_factory=DataSpec)
    reward: RewardSpec = field(default_factory=RewardSpec)
    agent: AgentSpec = field(default_factory=AgentSpec)
    output: OutputSpec = field(default_factory=OutputSpec)
    launch: LaunchSpec = field(default_factory=LaunchSpec)
    source: str | None = None  # the file it was read from

    def __post_init__(self) -> None:
        g = self.grpo
        if g.num_generations < 2:
            raise ConfigError("grpo.num_generations must be at least 2 (advantages are normalised within a group)")
        for name in ("prompts_per_step", "max_completion_length", "max_steps", "max_prompt_tokens", "save_steps",
                     "gradient_accumulation_steps"):
            if getattr(g, name) < 1:
                raise ConfigError(f"grpo.{name} must be at least 1")
        if not (g.learning_rate > 0 and g.beta >= 0 and g.temperature > 0 and 0 < g.top_p <= 1):
            raise ConfigError("grpo: learning_rate and temperature must be > 0, beta >= 0, top_p in (0, 1]")
        if self.lora.enabled and (self.lora.r < 1 or not self.lora.target_modules):
            raise ConfigError("lora.r must be >= 1 and lora.target_modules non-empty")
        if self.sft.steps < 0 or self.sft.per_device_train_batch_size < 1 or self.sft.learning_rate <= 0:
            raise ConfigError("sft: steps must be >= 0, per_device_train_batch_size >= 1 and learning_rate > 0")
        if self.data.eval_personas < 0:
            raise ConfigError("data.eval_personas must be >= 0")
        if self.launch.num_processes < 1:
            raise ConfigError("launch.num_processes must be >= 1")

    @property
    def batch_size(self) -> int:
        """Completions per device batch: prompts per step × group size."""
        return self.grpo.prompts_per_step * int(self.grpo.num_generations)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (written next to the checkpoints)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "source":
                out[f.name] = value
                continue
            table = value.as_table() if isinstance(value, TRLTable) else {k.name: getattr(value, k.name)
                                                                           for k in fields(value)}
            out[f.name] = {k: _plain(v) for k, v in table.items()}
        return out


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


_TABLES: dict[str, type[Any]] = {"model": ModelSpec, "lora": LoraSpec, "grpo": GRPOSpec, "sft": SFTSpec,
                                 "data": DataSpec,
                                 "reward": RewardSpec, "agent": AgentSpec, "output": OutputSpec,
                                 "launch": LaunchSpec}


@cache
def _file_model() -> type[BaseModel]:
    """The training file as pydantic validates it: one optional table per spec, nothing else."""
    tables: dict[str, Any] = {}
    for name, cls in _TABLES.items():
        kind = table_model(cls, name) if issubclass(cls, TRLTable) else cls
        tables[name] = (kind, Field(default_factory=kind))
    return create_model("TrainFile", __config__=ConfigDict(extra="forbid", frozen=True), **tables)


def _read(source: str | None, **where: Any) -> TrainConfig:
    from deltamem.config.settings import read_settings  # pydantic-settings: only when loading

    try:
        tables = read_settings(_file_model(), **where)
    except ValidationError as e:
        raise ConfigError(_problems(e.errors())) from e
    parts: dict[str, Any] = {name: spec_from_table(cls, name, getattr(tables, name)) if issubclass(cls, TRLTable)
                             else getattr(tables, name) for name, cls in _TABLES.items()}
    return TrainConfig(**parts, source=source)


_EXPECTED = {"int_type": "int", "float_type": "float", "string_type": "str", "bool_type": "true or false"}


def _problems(errors: list[ErrorDetails]) -> str:
    """Validation errors in the words of the training file: unknown tables / keys (grouped), then each bad value
    (``grpo.max_steps must be int, got str``)."""
    unknown: dict[str, list[str]] = {}  # table ("" = the file) -> unknown names
    out: list[str] = []
    for err in errors:
        loc = [str(p) for p in err["loc"]]
        where = ".".join(p for p in loc if not p.isdigit())
        if err["type"] == "extra_forbidden" and len(loc) == 1:
            unknown.setdefault("", []).append(loc[0])
        elif err["type"] == "unexpected_keyword_argument" and len(loc) == 2:
            unknown.setdefault(loc[0], []).append(loc[1])
        elif err["type"] in ("dataclass_type", "model_type") and len(loc) == 1:
            out.append(f"[{where}] must be a table")
        elif len(loc) == 3 or err["type"] in ("tuple_type", "list_type"):  # an item of a list, or not a list
            out.append(f"{where} must be a list of strings")
        elif err["type"] in _EXPECTED:
            out.append(f"{where} must be {_EXPECTED[err['type']]}, got {type(err['input']).__name__}")
        else:
            out.append(f"{where}: {err['msg']}")
    head = [f"[{table}]: unknown key(s) {sorted(names)}; known: {', '.join(f.name for f in fields(_TABLES[table]))}"
            if table else f"unknown table(s) {sorted(names)}; known: {', '.join(_TABLES)}"
            for table, names in unknown.items()]
    return "; ".join(head + out)


def train_config_from_dict(raw: dict[str, Any], *, source: str | None = None) -> TrainConfig:
    """A :class:`TrainConfig` from parsed TOML; unknown tables or keys and wrong types are :class:`ConfigError`."""
    return _read(source, overrides=raw)


def load_train_config(path: str | Path) -> TrainConfig:
    """Read a TOML training config; a missing file or bad TOML is a :class:`ConfigError` naming the file."""
    return _read(str(path), toml=path, label=str(path))
