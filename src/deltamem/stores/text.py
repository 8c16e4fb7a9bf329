"""Shared keyword-search text handling, so every store tokenises queries the same way."""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+", re.UNICODE)

# Function words carry no signal for BM25 over short fact sentences, and dropping them keeps FTS queries small.
STOPWORDS = frozenset(
    "a an and are as at be been but by did do does for from had has have he her hers him his how i if in into is it "
    "its me my of on or our she so than that the their them they this to was we were what when where which who whom "
    "why will with you your".split()
)


def stem(word: str) -> str:
    """A deliberately light stemmer (plural / 3rd-person "s", "'s"), enough for "lives" to meet "live"."""
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def query_terms(text: str) -> list[str]:
    """Distinct lower-cased query words without stopwords, in order of first appearance (unstemmed)."""
    seen: dict[str, None] = {}
    for w in _WORD.findall(text.lower()):
        if w not in STOPWORDS:
            seen.setdefault(w, None)
    return list(seen)


def doc_terms(text: str) -> list[str]:
    """Lower-cased, lightly stemmed words of a document (stopwords kept: they only add a little length)."""
    return [stem(w) for w in _WORD.findall(text.lower())]


def fts5_match(text: str) -> str | None:
    """An FTS5 MATCH expression OR-ing the quoted query terms (quoting neutralises FTS syntax in user text)."""
    terms = query_terms(text)
    if not terms:
        return None
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
