from __future__ import annotations

import pytest

from deltamem.synth.keywords import clean_keywords, dialogue_index, missing_in_dialogue, missing_in_text, stem


def test_clean_keywords_strips_possessives_dedupes_and_drops_junk() -> None:
    assert clean_keywords(["Lisbon's", " lisbon", "", "!!", 3, None, "new job"]) == ("Lisbon", "3", "new job")
    assert clean_keywords("Lisbon, new job") == ("Lisbon", "new job")
    assert clean_keywords(None) == ()
    assert clean_keywords([f"k{i}" for i in range(10)], limit=3) == ("k0", "k1", "k2")


def test_keyword_in_text_uses_the_reward_rule() -> None:
    assert missing_in_text(["Seattle", "flat"], "Ana's new flat in Seattle's north") == ()
    assert missing_in_text(["New"], "Ana moved to Newark") == ("New",)
    assert missing_in_text(["Zürich"], "She lives in ZURICH now") == ()


@pytest.mark.parametrize(("a", "b"), [("moving", "moved"), ("cities", "city"), ("hiking", "hike"), ("dogs", "dog")])
def test_stem_joins_inflections(a: str, b: str) -> None:
    assert stem(a) == stem(b)


def test_stem_keeps_different_words_apart() -> None:
    assert stem("bus") != stem("busy")
    assert stem("class") == "class"


@pytest.mark.parametrize(("keyword", "dialogue", "found"), [
    ("Lisbon", "We finally moved to Lisbon!", True),
    ("moved to Lisbon", "we're moving to Lisbon next week", True),
    ("3 cats", "our three cats hate the car", True),
    ("cats", "I have a cat now", True),
    ("Lisbon", "We love Lisboa", False),
    ("head nurse", "I'm the head of the ward now", False),
    ("Newark", "New York is great", False),
])
def test_dialogue_accepts_exact_or_lexical_paraphrase(keyword: str, dialogue: str, found: bool) -> None:
    assert (missing_in_dialogue([keyword], dialogue_index([dialogue])) == ()) is found
