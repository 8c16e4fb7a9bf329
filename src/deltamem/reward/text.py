"""Text normalisation for the MLD reward: the set-complement key and keyword containment (κ). Pure functions.

Two different normalisations, on purpose:

* :func:`normalise_text` decides whether two memories are *the same memory* (so that they cancel out of
  Δ_pred / Δ_target). It is conservative: only differences no reader would call a different fact are removed.
* :func:`token_string` serves keyword containment: it is looser (token boundaries, accents dropped), because a
  keyword ("Seattle") must be found in "Seattle's new flat" but never inside "Newark".

:func:`completion_text` takes the text to score out of a TRL completion (a string or a conversation).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from deltamem.core import ConfigError

_TOKEN = re.compile(r"[^\W_]+")  # runs of letters / digits; "_" and all punctuation separate tokens


def normalise_text(text: str) -> str:
    """The key under which two memory texts count as the same memory.

    Exactly, in order: Unicode NFKC; ``str.casefold()``; every run of Unicode whitespace collapsed to one space and
    leading / trailing whitespace removed; then trailing characters of Unicode category ``P*`` (punctuation: ``.``,
    ``!``, ``?``, ``,``, ``;``, ``:``, ``…``, closing quotes and brackets, ...) and whitespace stripped, repeatedly.
    Leading and inner punctuation are kept.

    >>> normalise_text("  Caroline  lives in\\tBoston. ")
    'caroline lives in boston'
    >>> normalise_text("Caroline lives in Boston!?") == normalise_text("caroline LIVES in boston")
    True
    """
    s = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    end = len(s)
    while end and (s[end - 1] == " " or unicodedata.category(s[end - 1])[0] == "P"):
        end -= 1
    return s[:end]


def token_string(text: str) -> str:
    """``text`` as space-separated tokens padded with one space each side, for phrase search on token boundaries.

    Casefolded, NFKD with combining marks dropped ("Zürich" → "zurich"), split into runs of letters and digits
    (so "Seattle's" → ``seattle s``, "3 dogs" → ``3 dogs``, "New-York" → ``new york``).

    >>> token_string("Seattle's 3 dogs")
    ' seattle s 3 dogs '
    """
    s = text.casefold()
    if not s.isascii():
        s = "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))
    return " " + " ".join(_TOKEN.findall(s)) + " "


def keyword_found(keyword_tokens: str, text_tokens: str) -> bool:
    """Whether a keyword (a :func:`token_string`) occurs in a text (a :func:`token_string`) as a whole phrase.

    Both are padded with spaces, so a substring match is a match of a contiguous token sequence.
    """
    return keyword_tokens in text_tokens


def containment(keywords: Sequence[str], text: str) -> tuple[float, tuple[str, ...], tuple[str, ...]]:
    """κ of one pair: the fraction of ``keywords`` found in ``text``, with the found and the missing keywords.

    A keyword that has no letters or digits (``"!!"``) cannot be checked and is ignored. κ = 1 when no checkable
    keyword remains.

    >>> containment(["New York", "3"], "They moved to New York with 3 dogs")[0]
    1.0
    >>> containment(["New"], "They moved to Newark")[0]
    0.0
    """
    text_tokens = token_string(text)
    found: list[str] = []
    missing: list[str] = []
    for k in keywords:
        kt = token_string(k)
        if kt == "  ":
            continue
        (found if kt in text_tokens else missing).append(k)
    total = len(found) + len(missing)
    return (len(found) / total if total else 1.0), tuple(found), tuple(missing)


def completion_text(completion: Any) -> str:
    """The final text of one completion: a string, or the last assistant message of a conversational completion.

    >>> completion_text([{"role": "assistant", "content": "[]"}])
    '[]'
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        return _content(completion.get("content"))
    if isinstance(completion, Sequence) and completion:
        messages = [m for m in completion if isinstance(m, Mapping)]
        assistant = [m for m in messages if m.get("role", "assistant") == "assistant"]
        if assistant:
            return _content(assistant[-1].get("content"))
    raise ConfigError(f"cannot read a completion of type {type(completion).__name__}")


def _content(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):  # multimodal content parts: keep the text parts
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping) and p.get("type") == "text")
    return "" if content is None else str(content)
