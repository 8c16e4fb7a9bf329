"""Step two of a windowed episode: one candidate fact against its own nearest memories → NEW / SAME / UPDATE /
DELETE.

The model answers one narrow question per (memory, fact) pair, *is the old memory still true after the new fact?*,
as grammar-constrained ``{"still_true": bool}``, with a few worked examples as earlier chat turns. Measured on the
packaged 1.5B: asked to pick NEW / SAME / UPDATE / DELETE for a fact and its memories, it answered UPDATE for almost
every pair (8 of 18 right on hand-made pairs); asked this question, 14 of 18, its misses keeping a stale memory
beside the new fact rather than destroying one (``docs/agent.md``).

A memory that is no longer true is replaced by the fact (UPDATE); a fact whose topic is that of a memory, word for
word or nearly, or whose words are all in it, is a no-op (SAME); a fact that only says a memory is no longer so
retracts it (DELETE); anything else is added (NEW). The model can name no memory and write no text, so nothing a
conversation says can make this step delete a memory or rewrite one with words the session did not state: a DELETE
needs a stated negation that shares a content word with the memory. Model-free checks come last: a memory of
another person is never changed, and an UPDATE that restates the memory is a no-op.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

from deltamem.agent.extract import join, opens_with
from deltamem.agent.guards import content_words, detail_words, name_words, normalise
from deltamem.agent.prompts import load
from deltamem.agent.working import Item

Kind = Literal["NEW", "SAME", "UPDATE", "DELETE"]

#: The reply format of a judgement call.
STILL_TRUE_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"still_true": {"type": "boolean"}},
                                     "required": ["still_true"]}


@cache
def _examples() -> list[tuple[str, str, bool]]:
    raw = resources.files("deltamem.agent.prompts").joinpath("judge_examples.json").read_text(encoding="utf-8")
    return [(str(o), str(n), bool(t)) for o, n, t in json.loads(raw)]


def _pair(old: str, new: str) -> str:
    return f"Old: {old}\nNew: {new}"


def judge_messages(old: str, new: str) -> list[dict[str, Any]]:
    """System, the worked examples as earlier turns, then the pair to judge."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": load("judge_system")}]
    for o, n, still in _examples():
        messages += [{"role": "user", "content": _pair(o, n)},
                     {"role": "assistant", "content": json.dumps({"still_true": still})}]
    return [*messages, {"role": "user", "content": _pair(old, new)}]


def parse_still_true(reply: str) -> bool | None:
    """The judgement, or None when the reply cannot be read (the caller then keeps the memory)."""
    start = reply.find("{")
    if start >= 0:
        try:
            value, _ = json.JSONDecoder().raw_decode(reply, start)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict) and isinstance(value.get("still_true"), bool):
            return bool(value["still_true"])
    word = reply.strip().strip('."').casefold()
    return {"true": True, "yes": True, "false": False, "no": False}.get(word)


@dataclass(frozen=True, slots=True)
class Decision:
    """What becomes of one fact. ``target``: the alias an UPDATE replaces with the fact, a SAME repeats, or a
    DELETE retracts (the fact itself is then not stored).
    ``note``: why (for the trace), empty when the model's judgement stood as it was."""

    kind: Kind
    target: str = ""
    note: str = ""
    also: tuple[str, ...] = ()  # aliases of further memories the fact ends, deleted with an UPDATE (see ongoing)
    keep: str = ""  # what the memory says that the fact does not end (see kept): the memory keeps it, an UPDATE's
    # fact is then added, and a DELETE rewrites the memory to it instead of deleting it


def check(decision: Decision, fact: str, item: Item | None, names: Sequence[str]) -> Decision:
    """The model-free checks on an UPDATE (see the module docstring); returns the decision to carry out."""
    if decision.kind != "UPDATE" or item is None:
        return decision
    if other_person(fact, item.text, names):
        return Decision("NEW", note=f"UPDATE {decision.target} refused: the memory is about someone else")
    if normalise(fact) == normalise(item.text):
        return Decision("SAME", decision.target, note="UPDATE restates the memory unchanged: a no-op")
    return decision


# Lasting attributes a person has one value of at a time, so that a new value replaces the old one. Their wordings
# differ more than embeddings see ("lives in Lagos" / "settled in London after the move" are far apart in cosine),
# so two facts on one of these are judged against each other even when they are not near in topic.
_SLOTS = tuple(re.compile(p, re.I) for p in (
    r"\b(liv(e|es|ed|ing) (in|at|near|with)|mov(e|ed|es|ing) (to|from|out|back|away|abroad)|relocat\w*|"
    r"settled (in|down)|hometown)\b",  # home
    r"\b(jobs?|hired|employ\w*|career|quit|fired|laid off|retired|promoted|promotion|"
    r"work(s|ed|ing)? (as|at|for)|"
    r"(start(s|ed|ing)?|began|begins) (a (new )?job|work(ing)? (at|for)|at (?-i:[A-Z])\w*))\b",  # work
    r"\b(dating|dated|married|marry|engaged|divorc\w*|partner|boyfriend|girlfriend|husband|wife|broke up)\b",
    r"\b(stud(y|ies|ied|ying) (at|in|for)|student at|(enrolled|graduated) (at|from|in)|degree in|"
    r"major(s|ed|ing)? in|(goes|went|going) to (college|university))\b",  # studies
    r"\b(allerg\w*|vegan|vegetarian|smok(e|es|ed|er|ing)|diet|diagnos\w*|pregnan\w*)\b",  # diet and health
))


def same_slot(fact: str, memory: str) -> bool:
    """True when both texts speak of one lasting attribute (home, work, partner, studies, diet and health)."""
    return any(slot.search(fact) and slot.search(memory) for slot in _SLOTS)


# A fact that ends something ("quit", "broke up", "not ... anymore", "left Google", "got promoted to senior
# accountant") ends the memory it shares a content word with; and a move ends where the person lived. The 1.5B judge
# missed both ("Elena is not seeing Pablo anymore" left "Elena is dating Pablo" still true), so they are decided
# without it.
_ENDS = re.compile(r"\b(no longer|not\b.{0,40}\b(anymore|any more)|quit|gave up|broke up|split up|divorced|"
                   r"passed away|died|stopped \w+ing|left (her|his|their) (job|work)|left [A-Z]\w+|"
                   r"(got|was|has been|gets|is) promoted)\b")
# Starting at a named workplace ends a memory of working at another one; the 1.5B judge kept both as true.
_PLACE = r"(?P<place>[A-Z][\w'’&.-]*(?: (?:of |the |and |& )?[A-Z][\w'’&.-]*)*)"
_JOB_START = re.compile(r"\b(?:start(?:s|ed|ing)?|began|begins) (?:a (?:new )?job |a position |work(?:ing)? )?"
                        rf"(?:at|for|with) {_PLACE}")
_WORKS_AT = re.compile(rf"\b(?:(?:works?|worked|working)(?: as [^,.]{{1,40}}?)? (?:at|for)|"
                       rf"(?:job|position|employed) (?:at|by|with)) {_PLACE}")
# A changed liking: the fact says the person likes what the memory says they dislike, or the other way round ("Ana
# has come to enjoy puzzle games" / "Ana doesn't like puzzle games"); the 1.5B judge kept both as true (HaluMem dev).
_DISLIKES = re.compile(r"\b(dislike[sd]?|hate[sd]?|(does|do|did)(n[’']t| not) (really )?(like|love|enjoy|care for)|"
                       r"(is|are|was)(n[’']t| not) (a fan of|into|fond of)|can(no|[’'])t stand)\b", re.I)
_LIKES = re.compile(r"\b(like[sd]?|love[sd]?|enjoy(s|ed)?|adore[sd]?|prefer(s|red)?|appreciate[sd]?|"
                    r"(is|are) (a fan of|into|fond of))\b", re.I)
_MOVE = re.compile(r"\b(moved|relocated|settled) (to|in|into)\b", re.I)
_LIVES = re.compile(r"\b(lives|lived|living) in\b", re.I)
# The words of those two patterns: a move and a home memory share them without naming one place.
_MOVE_WORDS = content_words("lives lived living moved relocated settled")


def ends(fact: str, memory: str, names: Sequence[str]) -> bool:
    """True when ``fact`` states the end of what ``memory`` says: an ending word and a content word in common other
    than the people's names, a move to a place the memory of where the person lives does not name, a start at a
    workplace other than the one the memory says the person works at, or a liking opposite to the memory's of the
    same thing."""
    shared = (content_words(fact) & content_words(memory)) - name_words(names)
    start, job = _JOB_START.search(fact), _WORKS_AT.search(memory)
    if start and job:
        new, old = normalise(start["place"]), normalise(job["place"])
        return new not in old and old not in new
    if _liking(fact) * _liking(memory) == -1:  # opposite likings: ended when they are of the same thing
        a, b = _liked(fact) - name_words(names), _liked(memory) - name_words(names)
        return bool(a and b) and (a <= b or b <= a)
    if _MOVE.search(fact) and _LIVES.search(memory):
        return not shared - _MOVE_WORDS
    return bool(_ENDS.search(fact)) and bool(shared)


def _liking(text: str) -> int:
    """-1 when ``text`` says someone dislikes something, 1 when it says they like it, else 0."""
    return -1 if _DISLIKES.search(text) else 1 if _LIKES.search(text) else 0


# Where what is liked ends ("puzzle games, because ...") and the words that say how, not what ("to play", "now").
_LIKED_END = re.compile(r"[,;.!?]| (because|since|as|which|that|when|while|but|for|due|so|though|although)\b")
_LIKED_FILLER = content_words("play playing watch watching eat eating drink drinking listen listening read reading "
                              "go going do doing now really also still more anymore much very lot lately")


def _liked(text: str) -> set[str]:
    """The content words of what ``text`` says is liked or disliked: after its first liking verb, up to a comma or
    a reason, less the words of how ("to play", "now")."""
    m = _DISLIKES.search(text) or _LIKES.search(text)
    if m is None:
        return set()
    rest = text[m.end():]
    end = _LIKED_END.search(rest)
    return content_words(rest[:end.start()] if end else rest) - _LIKED_FILLER


# A memory of something still going on ("Pottery helps Caroline cope", "Marco smokes after dinner"), as opposed to
# a past event ("Caroline made her first bowl"): when a fact ends what it is about, it is no longer true.
_PRESENT_VERBS = (r"is|are|am|has|have|does|loves?|likes?|enjoys?|helps?|works?|lives?|plays?|goes|wants?|plans?|"
                  r"keeps?|takes?|attends?|practi[cs]es?|teaches|owns?|uses?|feels?|finds?|makes|gets|hopes?|"
                  r"smokes?|drinks?|eats?")
_PAST_VERBS = (r"\w{3,}ed|was|were|had|did|made|went|took|got|ran|saw|began|bought|found|gave|wrote|built|won|met|"
               r"left|sold|told|came|became|felt|kept|spent|taught")
_PRESENT = re.compile(rf"\b({_PRESENT_VERBS})\b", re.I)
_PAST = re.compile(rf"\b({_PAST_VERBS})\b", re.I)


# Where a joined memory (:func:`~deltamem.agent.extract.join`) passes from one clause to the next: ", " or " and "
# before a verb of one of those two lists, its subject left out ("... Children's Hospital and has been a nurse").
_CLAUSE_BREAK = re.compile(rf"(?:,? and |, )(?=[a-z])(?=(?:will|would|can|could|should|starts|{_PRESENT_VERBS}|"
                           rf"{_PAST_VERBS}|(?:does|do|did|is|has)(?:n[’']t| not)|dislikes|hates|prefers)\b)")


def clauses(memory: str, subject: str) -> list[str]:
    """A memory about ``subject`` as the facts it joins, each a sentence: the inverse of
    :func:`~deltamem.agent.extract.join` ("Ana works at Lumen and has been a nurse for ten years." -> "Ana works at
    Lumen.", "Ana has been a nurse for ten years."). A memory that does not open with ``subject`` is one clause, and
    so is a part too short to stand alone (it stays with the one before)."""
    if not opens_with(memory, subject):
        return [memory]
    body = memory[len(subject):].strip().rstrip(".!? ")
    parts, start = [], 0
    for m in _CLAUSE_BREAK.finditer(body):
        if len(body[start:m.start()].split()) >= 2 and len(body[m.end():].split()) >= 2:
            parts.append(body[start:m.start()])
            start = m.end()
    parts.append(body[start:])
    return [f"{subject} {p.strip()}." for p in parts]


def kept(fact: str, memory: str, names: Sequence[str]) -> str:
    """What ``memory`` still says once ``fact`` has ended part of it: the clauses of a joined memory that the fact
    does not end ("Ana works at Lumen and has been a nurse for ten years." after "Ana starts at Vale Clinic." ->
    "Ana has been a nurse for ten years."); empty when the fact ends all of it or none of it alone."""
    subject = next((p for p in names if opens_with(memory, p)), None)
    parts = clauses(memory, subject) if subject is not None else [memory]
    rest = [c for c in parts if not ends(fact, c, names)]
    return join(rest, subject) if subject is not None and 0 < len(rest) < len(parts) else ""


def ongoing(memory: str) -> bool:
    """True when ``memory`` speaks of the present (a present-tense verb and no past-tense one)."""
    return bool(_PRESENT.search(memory)) and not _PAST.search(memory)


def centred(fact: str, memory: str, names: Sequence[str]) -> bool:
    """True when what ``memory`` is about, its subject (the words before its verb, people's names aside), its verb,
    or after "is" / "has" what follows, is a word of ``fact``: "Pottery helps Caroline cope" is about pottery,
    "Caroline lives in Seattle with her dog Rex" is not about Rex, so Rex's death ends the first kind and leaves
    the second."""
    verb = _PRESENT.search(memory)
    if verb is None:
        return False
    about = content_words(memory[:verb.start()]) | content_words(verb.group(0))
    if not content_words(verb.group(0)):  # "is", "has", "does": what it is or has is what the memory is about
        about |= content_words(memory[verb.end():])
    return bool((about - name_words(names)) & content_words(fact))


def other_person(fact: str, memory: str, names: Sequence[str]) -> bool:
    """True when the two texts name different people of the conversation and share none."""
    def named(text: str) -> set[str]:
        words = content_words(text)
        return {n for n in names if content_words(n) and content_words(n) <= words}

    a, b = named(fact), named(memory)
    return bool(a) and bool(b) and not (a & b)


# A negation that only says a memory is no longer so ("Elena is not seeing Pablo anymore", "Ana is no longer
# vegan") has nothing of its own to keep: the memory is retracted. An ending event ("quit", "moved", "broke up",
# "died") is a fact of its own, with its date, and replaces the memory instead.
_RETRACTS = re.compile(r"\b(no longer|not\b.{0,40}\b(anymore|any more)|no more)\b", re.I)
_EVENT = re.compile(r"\b(quit|gave up|broke up|split up|divorced|passed away|died|left|moved|relocated|stopped|"
                    r"ended|finished|sold)\b", re.I)
_NEGATION = re.compile(r"\b(not|no|never|nor|without|none|nothing|cannot)\b|n[’']t\b", re.I)


def retracts(fact: str, memory: str) -> bool:
    """True when ``fact`` only negates ("no longer", "not ... anymore"), naming no ending event, and has the
    memory's subject ("Elena is not seeing Pablo anymore" retracts no memory that opens with "Pablo")."""
    return bool(_RETRACTS.search(fact)) and not _EVENT.search(fact) and _subject(fact) == _subject(memory)


def _subject(text: str) -> tuple[str, ...]:
    words = normalise(text).split()
    return tuple(words[:2]) if len(words) > 1 and words[1] == "s" else tuple(words[:1])  # "Tom's ..." ≠ "Tom ..."


def subsumes(wider: str, narrower: str) -> bool:
    """True when ``narrower`` says nothing ``wider`` does not: the same subject, every word of it in ``wider``, and
    neither negated (a negation turns the same words into the opposite fact)."""
    if _NEGATION.search(wider) or _NEGATION.search(narrower) or _subject(wider) != _subject(narrower):
        return False
    return detail_words(narrower) <= detail_words(wider)
