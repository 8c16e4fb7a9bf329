"""The training run's settings: one frozen dataclass per TOML table, read and checked by :func:`load_train_config`.

A config file (``configs/train/*.toml``) has the tables ``[model]``, ``[lora]``, ``[grpo]``, ``[sft]``, ``[data]``,
``[reward]``, ``[agent]``, ``[output]`` and optionally ``[launch]`` (GPU scale-out); unknown keys are errors, so a
typo never silently falls back to a default. Relative paths are resolved against the working directory (the repo
root is where the scripts run).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from deltamem.core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """The policy. ``base``: a packaged GGUF name (``smollm2-135m``: converted once to transformers and cached), a
    local transformers directory, or a hub id (GPU machines). ``dtype``: float32 on CPU, bfloat16 on GPU."""

    base: str = "smollm2-135m"
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    attn_implementation: str | None = None  # e.g. "flash_attention_2" on GPU; None lets transformers choose
    gradient_checkpointing: bool = False
    cpu_threads: int = 0  # torch threads on CPU; 0 = torch default. 1 is faster on a busy 2-core machine


@dataclass(frozen=True, slots=True)
class LoraSpec:
    """LoRA adapters (peft); ``enabled = false`` trains every weight (full fine-tuning)."""

    enabled: bool = True
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True, slots=True)
class GRPOSpec:
    """The RL settings passed to TRL's ``GRPOConfig``. ``num_generations`` is the group size G; advantages are
    normalised within each group (``scale_rewards = "group"``). ``beta`` is the KL coefficient."""

    num_generations: int = 4
    prompts_per_step: int = 2  # distinct transitions per optimiser step (per device)
    gradient_accumulation_steps: int = 1
    max_completion_length: int = 128
    max_prompt_tokens: int = 1024  # longer prompts are dropped from the data (TRL 1.16 does not truncate prompts)
    learning_rate: float = 1e-5
    beta: float = 0.04
    max_steps: int = 50
    seed: int = 0
    temperature: float = 1.0
    top_p: float = 1.0
    scale_rewards: Literal["group", "batch", "none"] = "group"
    entropy_coef: float = 0.0  # entropy bonus; 0 = plain GRPO
    loss_type: str = "dapo"
    warmup_steps: int = 0
    max_grad_norm: float = 1.0
    use_vllm: bool = False
    vllm_mode: Literal["colocate", "server"] = "colocate"
    vllm_gpu_memory_utilization: float = 0.3
    save_steps: int = 25
    logging_steps: int = 1


@dataclass(frozen=True, slots=True)
class SFTSpec:
    """Optional supervised warm-up on the gold replies of the training split before GRPO (ours; see
    :mod:`deltamem.train.sft`). ``steps = 0`` turns it off."""

    steps: int = 0
    learning_rate: float = 2e-4
    batch_size: int = 4
    max_length: int = 1536  # prompt + reply tokens; longer rows are truncated by TRL


@dataclass(frozen=True, slots=True)
class DataSpec:
    """Where the transitions are and which of them to train on.

    ``path``: a synthesis output directory (``transitions.jsonl`` inside) or the file itself. Held-out personas
    (``eval_personas`` of them, drawn with ``split_seed``) form the eval split, so no persona's sessions leak into
    training. The curriculum limits (0 = no limit) keep CPU runs short: small S_t, few ops, short sessions.
    """

    path: str = "data/synth"
    eval_personas: int = 1
    split_seed: int = 0
    max_state_memories: int = 0
    max_ops: int = 0
    max_session_turns: int = 0
    max_train_examples: int = 0
    max_eval_examples: int = 0
    validate: bool = True  # re-check every transition with deltamem.synth before training


@dataclass(frozen=True, slots=True)
class RewardSpec:
    """The MLD reward (``deltamem.reward``): embedder and credit variant."""

    embedder: Literal["minilm", "hashing"] = "minilm"
    credit: Literal["product", "threshold", "min"] = "product"
    threshold: float = 0.8
    use_keywords: bool = True


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """The seed search that fills the first (and usually only) agent prompt, as in ``deltamem.agent``."""

    seed_k: int = 3
    max_seed_memories: int = 16


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """Where checkpoints, ``metrics.csv`` and ``reward_curve.png`` go."""

    dir: str = "runs/train"
    save_total_limit: int = 2


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    """GPU scale-out (read by ``scripts/train_gpu.sh`` and checked by ``--dry-run``)."""

    accelerate_config: str | None = None
    num_processes: int = 1
    min_gpu_memory_gib: float = 0.0


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
        if self.sft.steps < 0 or self.sft.batch_size < 1 or self.sft.learning_rate <= 0:
            raise ConfigError("sft: steps must be >= 0, batch_size >= 1 and learning_rate > 0")
        if self.data.eval_personas < 0:
            raise ConfigError("data.eval_personas must be >= 0")
        if self.launch.num_processes < 1:
            raise ConfigError("launch.num_processes must be >= 1")

    @property
    def batch_size(self) -> int:
        """Completions per device batch: prompts per step × group size."""
        return self.grpo.prompts_per_step * self.grpo.num_generations

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (written next to the checkpoints)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value if f.name == "source" else {k.name: _plain(getattr(value, k.name))
                                                            for k in fields(value)}
        return out


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


_TABLES: dict[str, type[Any]] = {"model": ModelSpec, "lora": LoraSpec, "grpo": GRPOSpec, "sft": SFTSpec,
                                 "data": DataSpec,
                                 "reward": RewardSpec, "agent": AgentSpec, "output": OutputSpec,
                                 "launch": LaunchSpec}


def train_config_from_dict(raw: dict[str, Any], *, source: str | None = None) -> TrainConfig:
    """A :class:`TrainConfig` from parsed TOML; unknown tables or keys and wrong types are :class:`ConfigError`."""
    unknown = set(raw) - set(_TABLES)
    if unknown:
        raise ConfigError(f"unknown table(s) {sorted(unknown)}; known: {', '.join(_TABLES)}")
    parts: dict[str, Any] = {}
    for name, cls in _TABLES.items():
        table = raw.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"[{name}] must be a table")
        known = {f.name: f for f in fields(cls)}
        bad = set(table) - set(known)
        if bad:
            raise ConfigError(f"[{name}]: unknown key(s) {sorted(bad)}; known: {', '.join(known)}")
        values: dict[str, Any] = {}
        for key, value in table.items():
            default = getattr(cls(), key)
            values[key] = _coerce(f"{name}.{key}", value, default)
        parts[name] = cls(**values)
    return TrainConfig(**parts, source=source)


def _coerce(where: str, value: Any, default: Any) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of strings")
        return tuple(value)
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if default is not None and not isinstance(value, type(default)):
        raise ConfigError(f"{where} must be {type(default).__name__}, got {type(value).__name__}")
    return value


def load_train_config(path: str | Path) -> TrainConfig:
    """Read a TOML training config; a missing file or bad TOML is a :class:`ConfigError` naming the file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}") from e
    try:
        return train_config_from_dict(raw, source=str(path))
    except TypeError as e:  # pragma: no cover - dataclass rejects a value shape _coerce let through
        raise ConfigError(f"{path}: {e}") from e
