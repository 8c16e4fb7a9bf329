"""What the training entry points share: the config with its command-line overrides, and the reward's embedder.
Used by ``deltamem train`` and ``python -m deltamem.train`` (the program ``accelerate launch`` runs)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from deltamem.config import EmbedderConfig
from deltamem.core import ConfigError
from deltamem.embed.base import Embedder
from deltamem.registry import build_embedder
from deltamem.train.config import TrainConfig, load_train_config


def load(config: Path | None, *, data: Path | None = None, output_dir: Path | None = None) -> TrainConfig:
    """The training config of TOML file ``config``, with ``data.path`` and ``output.dir`` replaced when given."""
    if config is None:
        raise ConfigError("--config FILE is required (see configs/train/)")
    cfg = load_train_config(config)
    if data is not None:
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, path=str(data)))
    if output_dir is not None:
        cfg = dataclasses.replace(cfg, output=dataclasses.replace(cfg.output, dir=str(output_dir)))
    return cfg


def reward_embedder(name: str) -> Embedder:
    """The embedder the reward compares memories with (``reward.embedder`` of the config)."""
    return build_embedder(EmbedderConfig(provider=name))  # type: ignore[arg-type]
