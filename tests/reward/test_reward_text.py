"""Normalisation (the set-complement key), keyword containment κ and the text of a TRL completion."""

from __future__ import annotations

import pytest

from deltamem.core import ConfigError
from deltamem.reward import completion_text, containment, normalise_text, token_string


@pytest.mark.parametrize(("a", "b"), [
    ("Caroline lives in Boston.", "caroline lives in boston"),
    ("  Caroline   lives\tin\nBoston  ", "Caroline lives in Boston"),
    ("Caroline lives in Boston!?…", "Caroline lives in Boston"),
    ("STRASSE", "straße"),  # casefold, not lower
    ("ﬁle", "file"),  # NFKC
])
def test_same_memory_after_normalisation(a: str, b: str) -> None:
    assert normalise_text(a) == normalise_text(b)


@pytest.mark.parametrize(("a", "b"), [
    ("Caroline lives in Boston", "Caroline lives in Boston, MA"),
    ("- Caroline lives in Boston", "Caroline lives in Boston"),  # leading punctuation is kept
    ("Rex is 3", "Rex is 30"),
])
def test_different_memories_stay_different(a: str, b: str) -> None:
    assert normalise_text(a) != normalise_text(b)


def test_normalise_exact_output() -> None:
    assert normalise_text("  Caroline's dog,  Rex, is 3 (three).  ") == "caroline's dog, rex, is 3 (three"


@pytest.mark.parametrize(("keyword", "text", "found"), [
    ("Seattle", "Caroline moved to Seattle's north side", True),
    ("3", "Caroline has 3 dogs", True),
    ("3", "Caroline has 30 dogs", False),
    ("New York", "She lives in new  york now", True),
    ("New York", "She lives in Newark", False),
    ("New", "She lives in Newark", False),
    ("York New", "She lives in New York", False),  # a phrase, in order
    ("Zürich", "moved to Zurich", True),
    ("March 2024", "since March, 2024", True),
    ("dog", "two dogs", False),  # no stemming: keywords are exact phrases
])
def test_keyword_containment(keyword: str, text: str, found: bool) -> None:
    kappa, hit, miss = containment([keyword], text)
    assert kappa == (1.0 if found else 0.0)
    assert (hit, miss) == (((keyword,), ()) if found else ((), (keyword,)))


def test_kappa_is_the_found_fraction() -> None:
    kappa, found, missing = containment(["Seattle", "March 2024", "pottery"], "Moved to Seattle in March 2024")
    assert kappa == pytest.approx(2 / 3)
    assert found == ("Seattle", "March 2024")
    assert missing == ("pottery",)


def test_kappa_is_one_without_keywords_and_ignores_uncheckable_ones() -> None:
    assert containment([], "anything")[0] == 1.0
    assert containment(["!!"], "anything")[0] == 1.0
    assert containment(["!!", "cat"], "a dog")[0] == 0.0


def test_token_string_is_padded_tokens() -> None:
    assert token_string("Seattle's 3 dogs_and-cats") == " seattle s 3 dogs and cats "


def test_completion_text_takes_the_last_assistant_message() -> None:
    conv = [{"role": "assistant", "content": "searching"}, {"role": "tool", "content": "[]"},
            {"role": "assistant", "content": [{"type": "text", "text": "[]"}]}]
    assert completion_text(conv) == "[]"
    with pytest.raises(ConfigError):
        completion_text(42)
