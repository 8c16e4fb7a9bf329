"""Lexical answer metrics of the mem0 LoCoMo lineage: set-based token F1 and BLEU-1.

Our own implementation of what mem0's ``evaluation/metrics/utils.py`` computes (read there, not copied), with no
NLTK dependency:

* token F1: lower-case, ``. , ! ?`` -> space, whitespace split, then precision/recall over token **sets**;
* BLEU-1: NLTK-style word tokens of the lower-cased texts (Punkt sentence split, then Penn-Treebank rules), clipped
  unigram precision times the brevity penalty, 0 when nothing overlaps (``SmoothingFunction().method1`` only
  touches the zero-weighted higher orders).

:func:`word_tokenize` reproduces ``nltk.word_tokenize`` on lower-cased text, including the one place where the
sentence splitter matters (whether a period stuck to a word becomes its own token). Punkt's learned model is
approximated by a list of common abbreviations and its orthographic rule for numbers and initials; see
docs/benchmarks.md for the measured agreement.
"""

from __future__ import annotations

import math
import re
from collections import Counter

__all__ = ["bleu1", "simple_tokenize", "split_sentences", "token_f1", "treebank_tokenize", "word_tokenize"]


def simple_tokenize(text: object) -> list[str]:
    """mem0's F1 tokens: lower-cased, ``.``/``,``/``!``/``?`` become spaces, split on whitespace."""
    return re.sub(r"[.,!?]", " ", str(text).lower()).split()


def token_f1(prediction: object, reference: object) -> float:
    """Set-based token F1 (duplicates count once; no stemming, no stop words); 0.0 if either side is empty.

    >>> token_f1("7 May 2023", "May 7, 2023")
    1.0
    >>> round(token_f1("She went to Paris", "Paris"), 4)
    0.4
    """
    pred = set(simple_tokenize(str(prediction).strip()))
    ref = set(simple_tokenize(str(reference).strip()))
    if not pred or not ref:
        return 0.0
    common = len(pred & ref)
    precision = common / len(pred)
    recall = common / len(ref)
    # Same operation order as the reference code, so the floats agree bit for bit.
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def bleu1(prediction: object, reference: object) -> float:
    """Sentence BLEU-1 of the lower-cased prediction against the one reference.

    >>> bleu1("a shell necklace", "A shell necklace")
    1.0
    >>> round(bleu1("necklace", "a shell necklace"), 4)  # precision 1 x brevity penalty exp(1 - 3/1)
    0.1353
    """
    hyp = word_tokenize(str(prediction).lower())
    ref = word_tokenize(str(reference).lower())
    if not hyp:
        return 0.0
    ref_counts = Counter(ref)
    clipped = sum(min(n, ref_counts[tok]) for tok, n in Counter(hyp).items())
    if clipped == 0:
        return 0.0
    c, r = len(hyp), len(ref)
    brevity = 1.0 if c > r else math.exp(1 - r / c)
    # exp(log(p)) rather than p: this is how the weighted geometric mean is formed in the reference, and the
    # round trip can differ from p in the last bit.
    return brevity * math.exp(math.log(clipped / c))


# --- sentence splitting (a Punkt approximation for lower-cased text) --------------------------------------------

#: Abbreviations after which a period does not end a sentence (common English ones that Punkt's English model
#: also treats as abbreviations).
ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof jr sr st rev gen col maj lt adm sen rep reps gov messrs vs inc ltd co corp bros cie
    jan feb aug sep sept oct nov dec tues wed fri ave ft yr mg ok ph.d a.m p.m u.s u.s.a u.k u.n d.c n.y
    calif fla ariz conn mich minn okla tenn wash wis ill ala colo kan nev ore ky va vt ga pa""".split()
)
_NUMBER = re.compile(r"^-?[.,]?\d[\d,.\-]*$")
_CLOSERS = "\"')]}»”’"
_OPENERS = "\"'([{«“‘`"


def split_sentences(text: str) -> list[str]:
    """Split text after ``.``/``?``/``!`` tokens the way Punkt does for lower-cased English text.

    A period ends a sentence unless it closes an ellipsis or a known abbreviation, or it follows a number or a
    single-letter initial and the next word starts in lower case (Punkt's orthographic rule: in lower-cased text
    such a word is never capitalised, so the period is taken as an abbreviation mark).
    """
    chunks = list(re.finditer(r"\S+", text))
    sentences: list[str] = []
    start = 0
    for i, m in enumerate(chunks[:-1]):
        if _ends_sentence(m.group(), chunks[i + 1].group()):
            sentences.append(text[start : m.end()].strip())
            start = chunks[i + 1].start()
    rest = text[start:].strip()
    if rest:
        sentences.append(rest)
    return sentences


def _ends_sentence(chunk: str, following: str) -> bool:
    core = chunk.rstrip(_CLOSERS)
    if core.endswith(("?", "!")):
        return True
    if not core.endswith(".") or core.endswith(".."):
        return False
    word = core[:-1].lstrip(_OPENERS).lower()
    if word in ABBREVIATIONS or word.rsplit("-", 1)[-1] in ABBREVIATIONS:
        return False
    initial = len(word) == 1 and word.isalpha()
    return not ((initial or _NUMBER.match(word)) and following[:1].islower())


# --- Penn-Treebank word rules ------------------------------------------------------------------------------------

_Rule = tuple[re.Pattern[str], str]


def _rules(*pairs: tuple[str, str]) -> list[_Rule]:
    return [(re.compile(p), r) for p, r in pairs]


# 1. opening quotes: a double quote at the start or after a space/bracket becomes ``; a leading apostrophe that
#    does not start a contraction suffix is split off.
_OPENING = _rules(
    (r"([«“‘„]|`+)", r" \1 "),
    (r'^"', "``"),
    (r"(``)", r" \1 "),
    (r"""([ (\[{<])("|'')""", r"\1 `` "),
    (r"(?i)(?<!\w)(')(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)", r"\1 "),
)
# 2. punctuation: the sentence-final period (with any closing brackets/quotes after it), commas and colons not
#    followed by a digit (so 1,000 and 10:30 stay whole), ellipses, symbols, dashes, ? and !, brackets.
_PUNCT = _rules(
    (r"""([^.])(\.)([\]\)}>"'»”’ ]*+)\s*$""", r"\1 \2 \3 "),
    (r"([:,])([^\d])", r" \1 \2"),
    (r"([:,])$", r" \1 "),
    (r"\.{2,}", r" \g<0> "),
    (r"[;@#$%&]", r" \g<0> "),
    (r"[\u2012-\u2015]", r" \g<0> "),
    (r"[?!]", r" \g<0> "),
    (r"([^'])' ", r"\1 ' "),
    (r"[*]", r" \g<0> "),
    (r"[\]\[(){}<>]", r" \g<0> "),
    (r"--", r" -- "),
)
# 3. closing quotes become '', then clitics are split off: 's 'm 'd ' 'll 're 've n't, and a few fused forms.
_CLOSING = _rules(
    (r"([»”’])", r" \1 "),
    (r"''", " '' "),
    (r'"', " '' "),
    (r"\s+", " "),
    (r"([^' ])('[sS]|'[mM]|'[dD]|') ", r"\1 \2 "),
    (r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", r"\1 \2 "),
)
_FUSED = [
    re.compile(p)
    for p in (
        r"(?i)\b(can)(not)\b",
        r"(?i)\b(d)('ye)\b",
        r"(?i)\b(gim)(me)\b",
        r"(?i)\b(gon)(na)\b",
        r"(?i)\b(got)(ta)\b",
        r"(?i)\b(lem)(me)\b",
        r"(?i)\b(more)('n)\b",
        r"(?i)\b(wan)(na)(?=\s)",
        r"(?i) ('t)(is)\b",
        r"(?i) ('t)(was)\b",
    )
]


def treebank_tokenize(sentence: str) -> list[str]:
    """Penn-Treebank word tokens of one sentence (quotes become ````` / ``''``; clitics are split off)."""
    s = sentence
    for pattern, repl in _OPENING + _PUNCT:
        s = pattern.sub(repl, s)
    s = f" {s} "
    for pattern, repl in _CLOSING:
        s = pattern.sub(repl, s)
    for pattern in _FUSED:
        s = pattern.sub(r" \1 \2 ", s)
    return s.split()


def word_tokenize(text: str) -> list[str]:
    """Sentence-split, then Treebank-tokenise each sentence (what ``nltk.word_tokenize`` does)."""
    return [tok for sentence in split_sentences(text) for tok in treebank_tokenize(sentence)]
