"""A transformers ChatModel: runs a (trained) checkpoint in-process, so ``deltamem`` can use a GRPO result directly.

``TransformersChatModel.from_path(dir)`` loads a full checkpoint (``config.json``) or a LoRA adapter directory
(``adapter_config.json``, merged into its base on load). It speaks the agent's plain-text JSON protocol
(``supports_tools = False``): the small models we train have no tool-calling chat template, and the agent falls back
to ``{"search": [...]}`` replies. For serving at scale, run the checkpoint under vLLM
(``vllm serve DIR``) and use the OpenAI-compatible backend (``--llm openai:DIR@http://host:8000/v1``) instead.

torch and transformers are imported only when a model is loaded (the ``train`` extra).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deltamem.core.errors import ConfigError, LLMError
from deltamem.llm.base import ChatModel, ChatRequest, ChatResponse, Message, Usage


class TransformersChatModel(ChatModel):
    """A :class:`deltamem.llm.base.ChatModel` over a transformers causal LM and its tokenizer (chat template)."""

    def __init__(self, model: Any, tokenizer: Any, *, name: str = "hf") -> None:
        self._model = model
        self._tok = tokenizer
        self._name = name
        if getattr(self._tok, "pad_token", None) is None:
            self._tok.pad_token = self._tok.eos_token
        self._tok.padding_side = "left"  # batched generation continues every row at its end

    @classmethod
    def from_path(cls, path: str | Path, *, device: str | None = None, dtype: str = "auto") -> TransformersChatModel:
        """Load a checkpoint directory (full model or LoRA adapter) onto ``device`` (default: cuda if present)."""
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as e:
            raise ConfigError(f"the transformers backend needs the 'train' extra: pip install 'deltamem[train]' "
                              f"({e})") from e
        p = Path(path).expanduser()
        if not p.is_dir():
            raise ConfigError(f"no checkpoint directory at {p}")
        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            if (p / "adapter_config.json").is_file():
                from peft import AutoPeftModelForCausalLM

                model = AutoPeftModelForCausalLM.from_pretrained(str(p), dtype=dtype).merge_and_unload()
            else:
                model = AutoModelForCausalLM.from_pretrained(str(p), dtype=dtype)
            tokenizer = AutoTokenizer.from_pretrained(str(p))
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot load a transformers checkpoint from {p}: {e}") from e
        model.to(dev).eval()
        return cls(model, tokenizer, name=f"hf:{p}")

    @property
    def name(self) -> str:
        return self._name

    @property
    def supports_tools(self) -> bool:
        return False

    def complete(self, request: ChatRequest) -> ChatResponse:
        """One completion (``tools`` and ``json_schema`` are ignored: no native tools, no constrained decoding)."""
        return self.chat_many([request.messages], max_tokens=request.max_tokens, temperature=request.temperature,
                              stop=request.stop, seed=request.seed)[0]

    def chat_many(self, conversations: Sequence[Sequence[Message]], *, max_tokens: int = 512,
                  temperature: float = 0.0, stop: Sequence[str] | None = None, seed: int | None = None,
                  ) -> list[ChatResponse]:
        """Completions for several conversations in one padded batch (used by evaluation)."""
        import torch

        if not conversations:
            return []
        started = time.perf_counter()
        try:
            texts = [self._tok.apply_chat_template([dict(m) for m in conv], add_generation_prompt=True,
                                                   tokenize=False) for conv in conversations]
            batch = self._tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            batch = {k: v.to(self._model.device) for k, v in batch.items()}
            if seed is not None:
                torch.manual_seed(seed)
            sample = temperature > 0
            kwargs: dict[str, Any] = {"max_new_tokens": max_tokens, "do_sample": sample,
                                      "pad_token_id": self._tok.pad_token_id}
            if sample:
                kwargs["temperature"] = temperature
            else:  # no sampling knobs: transformers warns about ones set in generation_config
                kwargs.update(temperature=None, top_p=None, top_k=None)
            with torch.no_grad():
                out = self._model.generate(**batch, **kwargs)
        except (RuntimeError, ValueError) as e:
            raise LLMError(f"{self._name}: generation failed: {e}") from e
        seconds = (time.perf_counter() - started) / len(conversations)
        width = batch["input_ids"].shape[1]
        replies = []
        for row, mask in zip(out, batch["attention_mask"], strict=True):
            new = row[width:]
            ids = [int(t) for t in new if int(t) != self._tok.pad_token_id]
            text = self._tok.decode(ids, skip_special_tokens=True)
            finish = "length" if len(ids) >= max_tokens else "stop"
            for s in stop or ():
                if s and s in text:
                    text, finish = text[: text.index(s)], "stop"
            replies.append(ChatResponse(content=text, finish_reason=finish,
                                        usage=Usage(int(mask.sum()), len(ids), 0, 1, seconds)))
        return replies
