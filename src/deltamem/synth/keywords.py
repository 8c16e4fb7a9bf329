"""Keyword rules of the synthesis validator. Pure functions.

Two checks, deliberately different:

* **keyword in memory text** (:func:`missing_in_text`) uses the reward's own rule
  (:func:`deltamem.reward.text.containment`: casefolded, accents dropped, whole-token phrase match, so "Seattle"
  is found in "Seattle's flat" but not in "Newark"). A label that κ could never find in its own target would make
  the reward unwinnable, so the label must pass exactly the test the reward applies.
* **keyword in dialogue** (:func:`found_in_dialogue`) also accepts a *clear lexical paraphrase*: every content token
  of the keyword, after light stemming and number-word folding, occurs somewhere in the dialogue (any order).
  "moved to Lisbon" is found in "we're moving to Lisbon"; "3 cats" in "our three cats"; "Lisbon" never in "Lisboa".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from deltamem.reward.text import containment, token_string

_POSSESSIVE = re.compile(r"['’]s\b", re.I)
_NUMBERS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "first": "1", "second": "2",
    "third": "3",
}
# Tokens that carry no content: a keyword made only of these is not checked for paraphrase.
_STOP = frozenset(
    "a an the of to in on at for from with by and or is are was were be been my his her their our your its "
    "s new".split()
)


def clean_keywords(raw: object, *, limit: int = 6) -> tuple[str, ...]:
    """Keywords as the model gave them, tidied: strings only, trimmed, possessive ``'s`` removed, deduplicated
    case-insensitively, at most ``limit``. A non-list gives ``()`` (the caller reports missing keywords).

    >>> clean_keywords(["Lisbon's", " lisbon", "", 3, "new job"])
    ('Lisbon', '3', 'new job')
    """
    if isinstance(raw, str):
        raw = [part for part in re.split(r"[,;]", raw)]
    if not isinstance(raw, list | tuple):
        return ()
    out: list[str] = []
    seen: set[str] = set()
    for item in raw:
        if not isinstance(item, str | int | float) or isinstance(item, bool):
            continue
        kw = _POSSESSIVE.sub("", str(item)).strip().strip("\"'.,;:")
        if not kw or token_string(kw) == "  " or kw.casefold() in seen:
            continue
        seen.add(kw.casefold())
        out.append(kw)
    return tuple(out[:limit])


def missing_in_text(keywords: Sequence[str], text: str) -> tuple[str, ...]:
    """The keywords that do not occur in ``text`` by the reward's κ rule (empty when all occur)."""
    return containment(keywords, text)[2]


def stem(token: str) -> str:
    """A deliberately light suffix stripper (no dictionary): enough for "moving"/"moved"/"moves" → "mov".

    >>> [stem(t) for t in ["moving", "moved", "move", "cities", "city", "hiking", "hike", "bus"]]
    ['mov', 'mov', 'mov', 'city', 'city', 'hik', 'hik', 'bus']
    """
    t = _NUMBERS.get(token, token)
    if t.isdigit() or len(t) <= 3:
        return t
    for suffix, repl in (("ies", "y"), ("ied", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""), ("ly", "")):
        if t.endswith(suffix) and len(t) - len(suffix) + len(repl) >= 3:
            if suffix == "s" and t.endswith("ss"):
                break
            t = t[: len(t) - len(suffix)] + repl
            break
    if len(t) > 3 and t.endswith("e"):
        t = t[:-1]
    return t


def _stems(text: str) -> set[str]:
    return {stem(t) for t in token_string(text).split()}


def found_in_dialogue(keyword: str, dialogue_tokens: str, dialogue_stems: set[str]) -> bool:
    """Whether a keyword, or a clear lexical paraphrase of it, occurs in the dialogue (see the module docstring)."""
    kt = token_string(keyword)
    if kt in dialogue_tokens:
        return True
    content = [t for t in kt.split() if t not in _STOP] or kt.split()
    return bool(content) and all(stem(t) in dialogue_stems for t in content)


def dialogue_index(texts: Iterable[str]) -> tuple[str, set[str]]:
    """The token string and stem set of a dialogue, computed once and reused for every keyword."""
    joined = "\n".join(texts)
    return token_string(joined), _stems(joined)


def missing_in_dialogue(keywords: Sequence[str], index: tuple[str, set[str]]) -> tuple[str, ...]:
    """The keywords that neither occur nor are paraphrased in the dialogue ``index`` (see :func:`dialogue_index`)."""
    tokens, stems = index
    return tuple(k for k in keywords if not found_in_dialogue(k, tokens, stems))
