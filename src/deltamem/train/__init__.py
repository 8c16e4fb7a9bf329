"""GRPO training of the memory agent with the MLD reward (TRL ``GRPOTrainer``); see docs/training.md.

Importing this package needs no torch: the trainer, model conversion and evaluation import torch / transformers /
trl only when called (the ``train`` extra).
"""

from deltamem.train.config import TrainConfig, load_train_config, train_config_from_dict
from deltamem.train.data import Split, build_example, build_split, load_transitions
from deltamem.train.reward import Scored, make_agent_reward, parse_completion, score_completions

__all__ = [
    "Scored", "Split", "TrainConfig", "build_example", "build_split", "load_train_config", "load_transitions",
    "make_agent_reward", "parse_completion", "score_completions", "train_config_from_dict",
]
