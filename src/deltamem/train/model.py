"""The policy as a transformers checkpoint: the base (a packaged GGUF converted once and cached, a local directory,
or a hub id on GPU machines with hub access), its LoRA config, and the trained result saved merged.

Conversion: ``from_pretrained(dir, gguf_file=...)`` de-quantises the GGUF into float32 weights, but the model it
returns carries a GGUF "quantizer" and refuses ``save_pretrained`` ("The model is quantized with gguf and is not
serializable"). The work-around (see DEVELOPERS.md) rebuilds a plain model from the config without its
``quantization_config`` and loads the de-quantised state dict into it, which saves normally.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from deltamem.core.errors import ConfigError
from deltamem.llm.model_files import MODELS, default_cache_dir, ensure_model
from deltamem.train.config import TrainConfig

_DONE = "deltamem-converted.json"


def hf_cache_dir(cache_dir: Path | None = None) -> Path:
    """Where converted checkpoints live: ``<cache>/hf`` (default ``~/.cache/deltamem/models/hf``)."""
    return (cache_dir if cache_dir is not None else default_cache_dir()) / "hf"


def resolve_base(base: str, *, cache_dir: Path | None = None, convert: bool = True) -> str:
    """A path or hub id that ``AutoModelForCausalLM.from_pretrained`` can load for ``base``.

    A packaged GGUF name is converted on first use (``convert=False`` only reports where it would go). A directory
    is used as is. Anything else is returned as a hub id (loading it needs network access).
    """
    if base in MODELS:
        dest = hf_cache_dir(cache_dir) / base
        if convert and not (dest / _DONE).is_file():
            convert_gguf(Path(ensure_model(base, cache_dir=cache_dir, progress=False)), dest)
        return str(dest)
    path = Path(base).expanduser()
    if path.exists():
        if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
            raise ConfigError(f"{path} is not a transformers checkpoint (no config.json)")
        return str(path)
    if base.endswith(".gguf"):
        raise ConfigError(f"GGUF file {base} not found")
    return base


def convert_gguf(gguf: Path, dest: Path) -> Path:
    """De-quantise a GGUF into a float32 transformers checkpoint at ``dest`` (written atomically via a temp dir)."""
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        raise ConfigError(f"training needs the 'train' extra: pip install 'deltamem[train]' ({e})") from e
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except (ImportError, OSError, ValueError) as e:
        raise ConfigError(f"cannot convert {gguf} (is the 'gguf' package installed?): {e}") from e
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the GGUF quantizer is what blocks save_pretrained
    model = AutoModelForCausalLM.from_config(config)  # type: ignore[no-untyped-call]
    model.load_state_dict(loaded.state_dict(), strict=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    (tmp / _DONE).write_text(json.dumps({"source": str(gguf), "size": gguf.stat().st_size}) + "\n")
    if dest.exists():
        import shutil

        shutil.rmtree(dest)
    tmp.rename(dest)
    return dest


def load_tokenizer(path: str) -> Any:
    """The tokenizer of a checkpoint, padded on the left (TRL generates batches) with a pad token set."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def prompt_token_counter(tokenizer: Any) -> Any:
    """A function counting the tokens of a chat prompt, with the generation prompt appended."""

    def count(messages: list[dict[str, Any]]) -> int:
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return len(ids)

    return count


def peft_config(cfg: TrainConfig) -> Any:
    """The LoRA config (None for full fine-tuning)."""
    if not cfg.lora.enabled:
        return None
    from peft import LoraConfig

    lo = cfg.lora
    return LoraConfig(r=lo.r, lora_alpha=lo.alpha, lora_dropout=lo.dropout, target_modules=list(lo.target_modules),
                      task_type="CAUSAL_LM")


def save_final(trainer: Any, tokenizer: Any, dest: Path) -> Path:
    """Save the trained policy as a plain transformers checkpoint (LoRA merged), loadable without peft."""
    model = trainer.model
    if hasattr(model, "merge_and_unload"):
        import copy

        model = copy.deepcopy(model).merge_and_unload()
    model.save_pretrained(str(dest))
    tokenizer.save_pretrained(str(dest))
    return dest
