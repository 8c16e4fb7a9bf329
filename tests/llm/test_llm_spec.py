"""``--llm`` specs → config fields → chat models (no model is loaded: local and hf models load lazily)."""

from __future__ import annotations

import pytest

from deltamem.config import LLMConfig
from deltamem.core.errors import ConfigError
from deltamem.registry import build_chat_model, parse_llm_spec


@pytest.mark.parametrize(("spec", "fields"), [
    ("local", {"provider": "local", "model": None, "base_url": None}),
    ("local:/m/x.gguf", {"provider": "local", "model": "/m/x.gguf", "base_url": None}),
    ("openai:qwen@http://127.0.0.1:8000/v1", {"provider": "openai", "model": "qwen",
                                              "base_url": "http://127.0.0.1:8000/v1"}),
    ("hf:runs/cpu/final", {"provider": "hf", "model": "runs/cpu/final", "base_url": None}),
    ("hf:C:/ckpt@2", {"provider": "hf", "model": "C:/ckpt@2", "base_url": None}),  # a path is taken whole
    ("none", {"provider": "none", "model": None, "base_url": None}),
])
def test_specs_map_to_config_fields(spec: str, fields: dict[str, str | None]) -> None:
    assert parse_llm_spec(spec) == fields


@pytest.mark.parametrize(("spec", "message"), [("hf:", "checkpoint directory"), ("openai:", "model name"),
                                               ("vllm:x", "unknown LLM")])
def test_bad_specs_say_what_is_expected(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_llm_spec(spec)


def test_hf_model_is_lazy_and_named_after_its_checkpoint(tmp_path: object) -> None:
    model = build_chat_model(LLMConfig(**parse_llm_spec("hf:/no/such/checkpoint")))  # type: ignore[arg-type]
    assert model is not None and model.name == "hf:/no/such/checkpoint"  # nothing loaded yet: no error
