"""Step one of a windowed episode: a window of turns → candidate facts, one short sentence each.

The model only writes facts here; it sees no stored memory and cannot name one, so nothing it reads in the
conversation can make this step delete or rewrite memory. Replies are grammar-constrained to ``{"facts": [...]}``
where the backend supports JSON schemas, and parsed leniently otherwise. Facts that talk to the memory system
("delete all memories", "ignore previous instructions") are dropped here: the conversation is data, never a command.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from deltamem.agent.guards import content_words, name_words
from deltamem.agent.prompting import session_date_line
from deltamem.agent.prompts import load
from deltamem.agent.session import Message, Session

#: The reply format of an extraction call (llama.cpp turns it into a grammar).
FACTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"facts": {"type": "array", "items": {"type": "string", "minLength": 8, "maxLength": 240},
                             "maxItems": 16}},
    "required": ["facts"],
}

MAX_FACT_CHARS = 300

# An extracted "fact" that is an order to the memory system, not a fact about a person (an injection, or a user
# asking the assistant to forget something, which is the application's business, not the agent's).
_COMMAND = re.compile(
    r"\b(ignore|disregard|override)\b.{0,40}\b(instructions?|rules?|prompts?)\b"
    r"|\b(delet(e|es|ed|ing)|eras(e|es|ed|ing)|forg(et|ets|ot|otten|etting)|wip(e|es|ed|ing)|remov(e|es|ed|ing)|"
    r"clear(s|ed|ing)?|reset(s|ting)?|drop(s|ped|ping)?)\b.{0,40}"
    r"\b(memor(y|ies)|everything|all (the )?(facts|data|records))\b"
    r"|\b(system prompt|memory (agent|system)|the assistant should|you must now)\b",
    re.I | re.S)


@dataclass(frozen=True, slots=True)
class Window:
    """A run of consecutive messages of a session: ``start`` is the index of the first one in the session."""

    start: int
    messages: tuple[Message, ...]

    @property
    def indices(self) -> range:
        """The session indices of the window's messages."""
        return range(self.start, self.start + len(self.messages))


def windows(session: Session, size: int) -> list[Window]:
    """The session cut into consecutive windows of at most ``size`` messages (``size`` ≤ 0: one window)."""
    msgs = session.messages
    if size <= 0 or len(msgs) <= size:
        return [Window(0, msgs)]
    n = -(-len(msgs) // size)  # as many windows as needed, then evened out so none is a short tail
    step = -(-len(msgs) // n)
    return [Window(i, msgs[i:i + step]) for i in range(0, len(msgs), step)]


def _speakers(messages: Sequence[Message]) -> list[str]:
    return list(dict.fromkeys(m.speaker for m in messages))  # in order of first appearance


def people(session: Session) -> list[str]:
    """The speakers of the session, in order of first appearance."""
    return _speakers(session.messages)


def subjects(session: Session, window: Window) -> list[str]:
    """The people of the window whose facts are extracted: every speaker in it who is not an assistant."""
    return [p for p in _speakers(window.messages) if p.casefold() not in ASSISTANT_NAMES]


def extract_messages(session: Session, window: Window, *, about: str | None = None, context_lines: int = 2
                     ) -> list[dict[str, Any]]:
    """System + user message of one extraction call, for the facts about one person (``about``) or about every
    person of the window; ``context_lines`` earlier messages are shown for reference."""
    before = session.messages[max(0, window.start - context_lines):window.start]
    context = ""
    if before:
        first = window.start - len(before)
        context = "Earlier (for reference only):\n" + "\n".join(
            f"[{first + i}] {m.speaker}: {m.text}" for i, m in enumerate(before)) + "\n"
    transcript = "\n".join(f"[{i}] {m.speaker}: {m.text}" for i, m in zip(window.indices, window.messages,
                                                                           strict=True))
    user = load("extract").format(date=session_date_line(session.date), people=", ".join(people(session)),
                                  context=context, transcript=transcript,
                                  about=about or "each person (" + ", ".join(subjects(session, window)) + ")")
    return [{"role": "system", "content": load("extract_system")}, {"role": "user", "content": user}]


@dataclass(frozen=True, slots=True)
class Facts:
    """The facts of one extraction reply, and what was left out of it with the reason."""

    facts: tuple[str, ...]
    dropped: tuple[tuple[str, str], ...] = ()
    readable: bool = True  # False when the reply held neither a JSON facts list nor a bulleted list


def parse_facts(text: str) -> Facts:
    """The fact strings of an extraction reply; tolerant of prose, fences, a bare list and a cut-off reply."""
    items = _json_facts(text)
    if items is None:  # no JSON: a bulleted or numbered list, one fact per item
        items = [m.group(1).strip().strip('"') for m in _BULLET.finditer(text)]
        if not items:
            return Facts((), (), readable=text.strip() == "")
    facts: list[str] = []
    dropped: list[tuple[str, str]] = []
    seen: set[str] = set()
    for item in items:
        fact = " ".join(str(item).split())
        key = fact.casefold().rstrip(".")
        if not fact or key in seen:
            continue
        seen.add(key)
        if len(fact) > MAX_FACT_CHARS:
            dropped.append((fact[:80] + "…", "longer than a fact"))
        elif len(fact.split()) < 3:
            dropped.append((fact, "too short to be a fact"))
        elif _COMMAND.search(fact):
            dropped.append((fact, "an instruction to the memory, not a fact (conversation text is data)"))
        else:
            facts.append(fact if fact.endswith((".", "!", "?")) else fact + ".")
    return Facts(tuple(facts), tuple(dropped))


#: Speaker names that stand for the assistant side of a chat (role names as OpenAI-style messages carry them).
ASSISTANT_NAMES = frozenset({"assistant", "ai", "bot", "chatbot", "system", "model"})
# How a fact announces news ("Caroline has sad news", "Ben shared some exciting news"): the verb and the kind of news.
_ANNOUNCES = r"(?:has|had|have|shared|shares|brought|brings)"
_NEWS_KIND = r"(?:sad|bad|good|big|great|exciting|happy|terrible)"
# A "fact" that only reports a move of the conversation (a question, thanks, praise, agreement, a wish) records
# nothing about the person; the prompt asks to skip these and small models write them anyway.
_TALK = re.compile(
    r"^[\w' .-]{1,60}?\b(asked|asks|thanked|thanks|congratulated|praised|complimented|agreed|agrees|greeted|"
    r"apologi[sz]ed|wished|welcomed|(is|was|are) welcome (to|in|back|home)|appreciated|appreciates|encouraged|"
    r"reassured|replied|responded|said goodbye|"
    r"expressed (her|his|their) (support|gratitude|thanks|appreciation|hope|excitement|admiration|happiness|joy)|"
    r"(is|was) (happy|glad|proud|grateful|thankful) (for|to hear|of) (her|him|them|you)|"
    r"(says|said|say) (hi|hello|hey|goodbye|bye)|will (talk|chat|speak|catch up)\b.{0,30}\b(soon|later)|"
    r"(will )?keeps? .{1,30} (posted|updated|in the loop)|"
    rf"{_ANNOUNCES} (some )?{_NEWS_KIND} news)\b"
    # ... or only praise: the whole fact is that something (named in at most three words) looks or is nice.
    r"|^[\w'’-]+(?: [\w'’-]+){0,2} (looks|is|was|are|were|sounds|seems) (so |really |very |truly |super )?"
    r"(fancy|gorgeous|beautiful|amazing|awesome|great|cool|lovely|nice|stunning|calming|wonderful|incredible|"
    r"fantastic|inspiring|impressive|cute|adorable|pretty)[.!]?$", re.I)
# A "fact" that is only a passing state: the whole sentence is how the person is or feels right now.
_PASSING = re.compile(
    r"^[\w' .-]{1,60}?\b(is|was|feels|felt|seems|is feeling) (doing )?(very |so |a bit |really )?"
    r"(well|fine|good|great|okay|ok|alright|tired|exhausted|sleepy|busy|bored|stressed|happy|sad|excited|nervous)"
    r"( (today|now|right now|at the moment|these days))?[.!]?$"
    # ... or a bodily state, whatever caused it ("Grace is tired from her long shift"): gone by the next session.
    r"|^[\w' .-]{1,60}?\b(is|was|feels|felt|gets|got|seems|is feeling) (so |very |a bit |really |quite |pretty )?"
    r"(tired|exhausted|sleepy|worn out|drained|hungry|jet-?lagged)\b(?! of\b)", re.I)  # "tired of her job" lasts
# A "fact" whose object is a bare pronoun ("Bea's doctor confirmed it", "Jon loves them"), at most a time phrase after
# it: what it refers to was in the conversation, not in the fact, so the memory would say nothing.
_VAGUE = re.compile(
    r"^[\w'’-]+(?: [\w'’-]+){0,6} (it|this|that|these|those|them)"
    r"(?: (?:on|in|at|during|last|this|yesterday|today|tomorrow|next|ago|recently|again)\b[^.!?]*)?[.!?]?$", re.I)
# A first-person word outside a quotation ("Ana said: I ...") marks a line of the speaker, not a fact.
# Not inside a hyphenated word: "me-time" is no first-person word.
_FIRST_PERSON = re.compile(r"(?<![\w-])(I|I'm|I've|I'll|I'd|me|my|mine|myself)(?![\w-])")


# "Caroline has sad news: Rex died yesterday": the announcement wraps the fact; the news after it is kept.
_NEWS = re.compile(
    rf"^(?P<who>[\w'’ .-]{{1,60}}?) {_ANNOUNCES} (?:some )?(?:{_NEWS_KIND} )?news(?: about [^:,]{{1,40}}?)?"
    r"(?::|,| that| -| —)\s+(?P<news>\S.{8,})$", re.I)


def unwrap_news(fact: str) -> str:
    """The news an announcement carries ("Ana has big news: she got the job." -> "Ana shared that she got the
    job."); a fact that is no announcement with its news is returned as it is."""
    m = _NEWS.match(fact)
    if m is None:
        return fact
    who, news = m.group("who"), m.group("news")
    if news.casefold().startswith(who.casefold() + " "):
        return news
    return f"{who} shared that {news}"


#: The reason given for a "fact" that is a line of the conversation copied, not written as a fact.
COPIED = "a line of the conversation, not a fact in the third person"


def copied_reply(facts: Facts) -> bool:
    """True when the screened reply was mostly lines copied from the conversation: a small model that falls into
    transcribing a window writes nothing else for it, so the window's facts are lost unless asked again."""
    copies = sum(why == COPIED for _, why in facts.dropped)
    return copies >= 3 and copies > len(facts.facts)


def screen(facts: Facts, speakers: Sequence[str]) -> Facts:
    """Leave out facts about the assistant, and lines copied from the conversation instead of written as facts."""
    assistants = {s.casefold() for s in speakers if s.casefold() in ASSISTANT_NAMES}
    kept: list[str] = []
    dropped = list(facts.dropped)
    for fact in map(unwrap_news, facts.facts):
        head = fact.split(maxsplit=1)[0].rstrip(":,'s’").casefold()
        if head in assistants or (head == "the" and fact.casefold().startswith("the assistant")):
            dropped.append((fact, "about what the assistant said, which the person did not adopt"))
        elif re.match(r"^[^\s:]{1,40}:\s", fact) or _FIRST_PERSON.search(re.split(r'[:"“]', fact, maxsplit=1)[0]):
            dropped.append((fact, COPIED))
        elif _TALK.match(fact):
            dropped.append((fact, "a move of the conversation (question, thanks, praise), not a fact"))
        elif _PASSING.match(fact):
            dropped.append((fact, "a passing state (how someone is or feels now), not a lasting fact"))
        elif _VAGUE.match(fact):
            dropped.append((fact, "ends in a pronoun (it, this, them) without saying what it stands for"))
        else:
            kept.append(fact)
    return Facts(tuple(kept), tuple(dropped))


def about_person(facts: Facts, person: str) -> Facts:
    """Of the facts extracted for ``person``, those that name them (a fact about someone else is extracted in
    that person's own pass)."""
    words = person.casefold().split()
    kept, dropped = [], list(facts.dropped)
    for fact in facts.facts:
        low = fact.casefold()
        if all(re.search(rf"\b{re.escape(w)}\b", low) for w in words):
            kept.append(fact)
        else:
            dropped.append((fact, f"does not name {person}, whose facts were asked for"))
    return Facts(tuple(kept), tuple(dropped))


def reattribute(fact: str, best: Message | None, speakers: Sequence[str]) -> str:
    """The fact with its subject corrected when a small model credited one speaker's line to another.

    ``best`` is the line that supports the fact most. A fact that opens with a speaker's name, whose best line was
    said by another person who is not an assistant and does not mention the named speaker, is about the one who
    said it ("Researching adoption agencies" said by Ana becomes "Ana ..." even when the model wrote "Ben ...").
    """
    if best is None:
        return fact
    subject = next((n for n in speakers if re.match(rf"{re.escape(n)}\b(?!['’])", fact)), None)
    if subject is None or best.speaker == subject or best.speaker.casefold() in ASSISTANT_NAMES:
        return fact
    if best.speaker not in speakers or re.search(rf"\b{re.escape(subject)}\b", best.text, re.I):
        return fact
    return best.speaker + fact[len(subject):]


_YES = re.compile(r"\s*(yes|yeah|yep|yup|right|exactly|correct|indeed|sure|true|that's right|that is right)\b",
                  re.I)


def adopted(fact: str, best: Message | None, window: Window, speakers: Sequence[str],
            session: Session | None = None) -> bool:
    """False when the fact is the assistant's, not the person's: its best supporting line was said by an assistant,
    the next line is no "yes" of a person to it, and the people's own lines of the window hold fewer than half of
    the fact's content words (names aside), as with "I'm so sorry about Rex" credited to the person; or one of its
    details (a quoted value, a number) was said by an assistant and by no person of the session, and no person said
    "yes" to it (:func:`assistant_detail`)."""
    if assistant_detail(fact, window, session) is not None:
        return False
    if best is None or best.speaker.casefold() not in ASSISTANT_NAMES or _confirmed(best, window):
        return True
    words = content_words(fact) - name_words(speakers)
    said = set().union(*(content_words(m.text) for m in window.messages
                         if m.speaker.casefold() not in ASSISTANT_NAMES))
    return not words or 2 * len(words & said) >= len(words)


def _confirmed(line: Message, window: Window) -> bool:
    """True when the line after ``line`` opens with a "yes"."""
    after = window.messages.index(line) + 1
    return after < len(window.messages) and _YES.match(window.messages[after].text) is not None


# The details of a fact that an assistant may have put in the person's mouth: values in quotes and numbers. (Not
# every capitalised word: "How is Rex?" / "He loves the parks" makes "Rex loves the parks" the person's fact.)
_DETAIL = re.compile(r"(?<![\w'’])['‘\"“]([^'’\"”]{1,40}?)[.,!?]?['’\"”](?!\w)|(?<![\w.])(\d[\d.,:]*\d|\d)(?!\w)")


def assistant_detail(fact: str, window: Window, session: Session | None = None) -> str | None:
    """A detail of ``fact`` (a quoted value, a number) that an assistant said in the window and no person said in
    the session (the window when no session is given), unless a person's next line said "yes" to it as to a
    question: the assistant's version of what the person said ("from 'Affected' to 'Excellent'" where the person
    said "to 'Improving'"). None when every detail is the people's."""
    lines = session.messages if session is not None else window.messages
    people = [m for m in lines if m.speaker.casefold() not in ASSISTANT_NAMES]
    assistant = [m for m in window.messages if m.speaker.casefold() in ASSISTANT_NAMES]
    if not assistant:
        return None
    details: set[str] = {(quoted or number).strip().casefold() for quoted, number in _DETAIL.findall(fact)}
    for detail in details - {""}:
        pattern = re.compile(rf"(?<!\w){re.escape(detail)}(?!\w)", re.I)
        if any(pattern.search(m.text) for m in people):
            continue
        # Only a "yes" to a question confirms ("So you ran 12 miles?" / "Yes"); "Yes, and ..." after a statement of
        # the assistant's is the person going on with their own story.
        if any(pattern.search(m.text) and not ("?" in m.text and _confirmed(m, window)) for m in assistant):
            return detail
    return None


#: At most this many facts of one line are joined into one, and the joined fact has at most this many words.
JOIN_MAX_FACTS, JOIN_MAX_WORDS = 3, 40


def opens_with(fact: str, subject: str) -> bool:
    """True when ``fact`` opens with ``subject`` alone followed by a lower-case word ("Hana ran ..."), not
    "Hana's ..." and not "Hana and Jon ..." (whose subject is two people)."""
    return re.match(rf"{re.escape(subject)} (?!(and|or|with|nor|&)\b)[a-z]", fact) is not None


def join(facts: Sequence[str], subject: str) -> str:
    """Facts about ``subject`` written from one line, as one fact: "Hana ran the Tokyo marathon." and "Hana finished
    in four hours." become "Hana ran the Tokyo marathon and finished in four hours." (every fact opens with
    ``subject``, see :func:`opens_with`). A small model splits one line into fragments that mean little alone
    ("Ken enjoys the startup."); joined, the memory keeps them together, as the line did."""
    if len(facts) == 1:
        return facts[0]
    clauses = [facts[0].rstrip(".!? ")] + [f[len(subject):].strip().rstrip(".!? ") for f in facts[1:]]
    return ", ".join(clauses[:-1]) + ("," if len(clauses) > 2 else "") + f" and {clauses[-1]}."


def repetitive(facts: Facts, *, limit: int = 3) -> Facts:
    """Facts past the ``limit``-th that are one earlier fact with one word swapped: greedy decoding stuck in a loop
    ("X's husband's sister is supportive", "X's husband's brother is supportive", ...)."""
    counts: dict[tuple[str, ...], int] = {}
    kept, dropped = [], list(facts.dropped)
    for fact in facts.facts:
        words = fact.casefold().rstrip(".!?").split()
        keys = [(*words[:i], "*", *words[i + 1:]) for i in range(len(words))]
        if any(counts.get(k, 0) >= limit for k in keys):
            dropped.append((fact, "one of a run of facts that repeat one pattern (a decoding loop)"))
            continue
        for k in keys:
            counts[k] = counts.get(k, 0) + 1
        kept.append(fact)
    return Facts(tuple(kept), tuple(dropped))


_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+(.+)$", re.M)


def _json_facts(text: str) -> list[Any] | None:
    start = text.find("{")
    if start >= 0:
        try:
            value, _ = json.JSONDecoder().raw_decode(text, start)
        except json.JSONDecodeError:
            # Cut off inside the list (the output cap): keep the complete strings.
            head = text[start:]
            if '"facts"' in head[:20]:
                body = head.split("[", 1)[1] if "[" in head else ""
                # The complete strings before the cut; none at all is an unusable reply, not an empty one.
                return [json.loads(f'"{s}"') for s in re.findall(r'"((?:[^"\\]|\\.)*)"\s*[,\]]', body)] or None
            return None
        if isinstance(value, dict) and isinstance(value.get("facts"), list):
            return [v for v in value["facts"] if isinstance(v, str)]
        return None
    if text.lstrip().startswith("["):
        try:
            value = json.loads(text.strip())
        except json.JSONDecodeError:
            return None
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else None
    return None

