"""The two training tables that are partly TRL's config: ``[grpo]`` (TRL's ``GRPOConfig``) and ``[sft]``
(``SFTConfig``). deltamem declares only its own keys and its values for some of TRL's fields; TRL's dataclass is
the source of every other field and validates them all when the trainer builds it. Nothing here imports trl,
except :func:`trl_fields` (only for a key that is neither deltamem's nor one of its defaults).
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar, get_type_hints

from pydantic import BaseModel, ConfigDict, StrictBool, StrictFloat, StrictInt, create_model, model_validator

from deltamem.core.errors import ConfigError

T = TypeVar("T", bound="TRLTable")

#: deltamem's values for fields of TRL's ``GRPOConfig``, under TRL's names (a short CPU run's; the shipped configs
#: replace most). ``num_generations`` is the group size G; advantages are normalised within each group
#: (``scale_rewards = "group"``); ``beta`` is the KL coefficient, ``entropy_coef`` an entropy bonus (0 = plain GRPO).
GRPO_DEFAULTS: Mapping[str, Any] = MappingProxyType({
    "num_generations": 4, "gradient_accumulation_steps": 1, "max_completion_length": 128, "learning_rate": 1e-5,
    "beta": 0.04, "max_steps": 50, "seed": 0, "temperature": 1.0, "top_p": 1.0, "scale_rewards": "group",
    "entropy_coef": 0.0, "loss_type": "dapo", "warmup_steps": 0, "max_grad_norm": 1.0, "use_vllm": False,
    "vllm_mode": "colocate", "vllm_gpu_memory_utilization": 0.3, "save_steps": 25, "logging_steps": 1,
    "save_strategy": "steps", "report_to": "none", "log_completions": False, "dataloader_num_workers": 0,
})

#: deltamem's values for fields of TRL's ``SFTConfig`` (TRL's names). Only the reply tokens are trained on.
SFT_DEFAULTS: Mapping[str, Any] = MappingProxyType({
    "learning_rate": 2e-4, "per_device_train_batch_size": 4, "max_length": 1536, "completion_only_loss": True,
    "logging_steps": 1, "save_strategy": "no", "report_to": "none", "lr_scheduler_type": "cosine",
    "dataset_num_proc": None,
})


class TRLTable:
    """A table that is partly TRL's config: the subclass's fields are deltamem's keys, ``trl`` holds the keys of the
    file that are fields of TRL's config class (``TRL_CLASS``), under TRL's names, as written. :meth:`trl_args` adds
    deltamem's values (``DEFAULTS``) for the keys the file leaves out; TRL's own defaults apply to the rest.
    ``DERIVED`` names the fields deltamem sets from other settings (the file cannot), ``RENAMED`` the old keys still
    read (with a DeprecationWarning). Every TRL value deltamem passes reads as an attribute: ``spec.learning_rate``.
    """

    __slots__ = ()
    TRL_CLASS: ClassVar[str]
    DEFAULTS: ClassVar[Mapping[str, Any]]
    DERIVED: ClassVar[Mapping[str, str]]
    RENAMED: ClassVar[Mapping[str, str]] = {}
    trl: Mapping[str, Any]

    def trl_args(self) -> dict[str, Any]:
        """Keyword arguments for TRL's config class: deltamem's defaults, then the file's keys."""
        return {**self.DEFAULTS, **self.trl}

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("_") and name != "trl":  # never while unpickling, when `trl` is not set yet
            if name in self.RENAMED:
                warnings.warn(f"{type(self).__name__}.{name} is deprecated: read {self.RENAMED[name]}",
                              DeprecationWarning, stacklevel=2)
                name = self.RENAMED[name]
            args = self.trl_args()
            if name in args:
                return args[name]
        raise AttributeError(f"{type(self).__name__} has no {name!r} (a field of TRL's {self.TRL_CLASS} that the "
                             "file leaves to TRL's default is not read here)")

    def as_table(self) -> dict[str, Any]:
        """The table as deltamem runs it, flat: deltamem's keys and every TRL value it passes."""
        own = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "trl"}  # type: ignore[arg-type]
        return {**own, **self.trl_args()}


@dataclass(frozen=True, slots=True)
class GRPOSpec(TRLTable):
    """The ``[grpo]`` table: the two keys below, and any field of TRL's ``GRPOConfig`` under its own name
    (:data:`GRPO_DEFAULTS` holds deltamem's values for those it leaves out; ``data_seed`` follows ``seed`` unless
    set). TRL's dataclass validates them when the trainer builds its config (``deltamem train --dry-run`` does
    that on CPU, with vLLM and bf16 off)."""

    TRL_CLASS: ClassVar[str] = "GRPOConfig"
    DEFAULTS: ClassVar[Mapping[str, Any]] = GRPO_DEFAULTS
    DERIVED: ClassVar[Mapping[str, str]] = {
        "output_dir": "output.dir", "per_device_train_batch_size": "prompts_per_step × num_generations",
        "save_total_limit": "output.save_total_limit", "use_cpu": "the machine", "bf16": "model.dtype",
        "fp16": "model.dtype", "model_init_kwargs": "[model]", "gradient_checkpointing": "model.gradient_checkpointing",
        "remove_unused_columns": "the reward, which reads the data's columns", "disable_tqdm": "the command line",
    }

    prompts_per_step: StrictInt = 2  # distinct transitions per optimiser step (per device)
    max_prompt_tokens: StrictInt = 1024  # longer prompts are dropped from the data (TRL 1.16 does not truncate prompts)
    trl: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SFTSpec(TRLTable):
    """Optional supervised warm-up on the gold replies of the training split before GRPO (ours; see
    :mod:`deltamem.train.sft`): ``steps`` of TRL's ``SFTTrainer``, ``steps = 0`` turns it off. Any field of TRL's
    ``SFTConfig`` may be set under its own name (:data:`SFT_DEFAULTS` holds deltamem's values; ``seed`` follows
    ``grpo.seed`` and ``warmup_steps`` is a tenth of ``steps``, at most 5, unless set); ``max_length`` counts
    prompt + reply tokens (longer rows are truncated by TRL). ``batch_size`` is the old name of
    ``per_device_train_batch_size``."""

    TRL_CLASS: ClassVar[str] = "SFTConfig"
    DEFAULTS: ClassVar[Mapping[str, Any]] = SFT_DEFAULTS
    DERIVED: ClassVar[Mapping[str, str]] = {
        "output_dir": "output.dir", "max_steps": "sft.steps", "use_cpu": "the machine", "bf16": "model.dtype",
        "fp16": "model.dtype", "model_init_kwargs": "[model]", "gradient_checkpointing": "model.gradient_checkpointing",
        "disable_tqdm": "the command line",
    }
    RENAMED: ClassVar[Mapping[str, str]] = {"batch_size": "per_device_train_batch_size"}

    steps: StrictInt = 0
    trl: Mapping[str, Any] = field(default_factory=dict)


_CHECKED: dict[type, Any] = {bool: StrictBool, int: StrictInt, float: StrictFloat}


def table_model(spec: type[TRLTable], name: str) -> type[BaseModel]:
    """The pydantic model that checks the file's table ``[name]`` of ``spec``: deltamem's keys with their types,
    the keys of ``DEFAULTS`` typed by their value where it is a number or a boolean (TRL checks the rest, strings
    included, when it builds its config), any other key kept for :func:`spec_from_table`. An old key of
    ``RENAMED`` is read under its new name, with a FutureWarning (shown by default)."""
    hints = get_type_hints(spec, include_extras=True)
    keys: dict[str, Any] = {f.name: (hints[f.name], f.default) for f in fields(spec)  # type: ignore[arg-type]
                            if f.name != "trl"}
    keys.update({k: (_CHECKED.get(type(v), Any), v) for k, v in spec.DEFAULTS.items()})

    def renamed(data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for old, new in spec.RENAMED.items():
            if old in data:
                if new in data:
                    raise ConfigError(f"[{name}]: {old} is the old name of {new}; give only {new}")
                # FutureWarning: the person who wrote the file sees it (Python hides DeprecationWarnings of libraries)
                warnings.warn(f"[{name}] {old} is deprecated: name it {new}, as TRL's {spec.TRL_CLASS} does",
                              FutureWarning, stacklevel=2)
                data[new] = data.pop(old)
        return data

    validators: dict[str, Any] = {"_renamed": model_validator(mode="before")(renamed)}
    return create_model(f"{spec.__name__}Table", __config__=ConfigDict(extra="allow", frozen=True),
                        __validators__=validators, **keys)


def spec_from_table(spec: type[T], name: str, table: BaseModel) -> T:
    """The ``spec`` of a table checked by :func:`table_model`. A key deltamem derives, or one that is neither
    deltamem's nor a field of TRL's config class, is a :class:`ConfigError`; without trl installed, only deltamem's
    keys and those of ``DEFAULTS`` are known."""
    own = [f.name for f in fields(spec) if f.name != "trl"]  # type: ignore[arg-type]
    extra = dict(table.__pydantic_extra__ or {})
    derived = sorted(set(extra) & set(spec.DERIVED))
    if derived:
        raise ConfigError("; ".join(f"[{name}]: {k} is set by deltamem (from {spec.DERIVED[k]})" for k in derived))
    if extra:
        known_to_trl = trl_fields(spec.TRL_CLASS)
        unknown = sorted(set(extra) - (known_to_trl or set()))
        if unknown:
            ours = ", ".join([*own, *spec.DEFAULTS])
            known = (f"{ours} or any field of TRL's {spec.TRL_CLASS}" if known_to_trl is not None else
                     f"{ours}; other fields of TRL's {spec.TRL_CLASS} are known once trl is installed "
                     "(pip install 'deltamem[train]')")
            raise ConfigError(f"[{name}]: unknown key(s) {unknown}; known: {known}")
    given = {k: getattr(table, k) for k in table.model_fields_set if k in spec.DEFAULTS}
    return spec(**{k: getattr(table, k) for k in own}, trl={**given, **extra})  # type: ignore[call-arg]


def trl_fields(class_name: str) -> frozenset[str] | None:
    """The field names of TRL's config class ``class_name``; None without trl (imported only here: seconds)."""
    if importlib.util.find_spec("trl") is None:
        return None
    import trl

    return frozenset(f.name for f in fields(getattr(trl, class_name)))
