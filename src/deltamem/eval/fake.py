"""A rule-based fake model for the evaluation harness: agent, answerer and every judge, with no real model.

``deltamem eval ... --llm fake`` runs the whole pipeline on it (tests, CI, a dry run). Its rules are simple and
deterministic, so tests can compute the expected metric values by hand:

* memory agent: one fact ``"<Speaker> said: <text>"`` per non-assistant line of each window (every old memory
  judged still true), or in the whole-session protocol one ``ADD`` of that text per line;
* answerer: the context line sharing the most words with the question (the part after ``Name: ``), or for a
  multiple-choice question ``<final_answer>(x)`` for the option sharing the most words with the context;
* judges: "correct" exactly when every word of the gold answer occurs in the response (LoCoMo, HaluMem QA,
  LongMemEval); HaluMem integrity 2 when every word of the point occurs in one extracted memory, else 0; accuracy
  always 2 and included; update Correct when one returned memory holds every word of the new memory, else Omission.

Words are mem0's F1 tokens (lower case, ``.,!?`` removed). Never report numbers made with it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from deltamem.eval.metrics.text import simple_tokenize
from deltamem.llm.base import ChatModel, ChatRequest, ChatResponse, Usage

__all__ = ["FakeEvalModel"]

_TRANSCRIPT = re.compile(r"^\[\d+\] ([^:]+): (.*)$", re.M)
_CONTEXT = re.compile(r"^- \[[^\]]*\] ")
_OPTION = re.compile(r"^\(([a-d])\) (.*)$", re.M)


def _words(text: str) -> set[str]:
    return set(simple_tokenize(text))


def _section(text: str, start: str, end: str) -> str:
    i = text.rfind(start)  # the last occurrence: prompts show worked examples before the real item
    if i < 0:
        return ""
    i += len(start)
    j = text.find(end, i)
    return text[i: j if j >= 0 else len(text)].strip()


def _fenced(obj: Mapping[str, Any]) -> str:
    return "```json\n" + json.dumps(obj) + "\n```"


class FakeEvalModel(ChatModel):
    """A deterministic ChatModel; ``requests`` counts every call it received (cache hits never reach it)."""

    def __init__(self, *, name: str = "fake-eval") -> None:
        self._name = name
        self.requests = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def supports_tools(self) -> bool:
        return False

    def complete(self, request: ChatRequest) -> ChatResponse:
        """Answer by the rules in the module docstring."""
        self.requests += 1
        prompt = "\n".join(str(m.get("content") or "") for m in request.messages)
        reply = self._reply(prompt)
        return ChatResponse(content=reply, usage=Usage(len(prompt.split()), len(reply.split()), 0, 1, 0.0))

    def _reply(self, p: str) -> str:
        if "You write down facts" in p and "write the facts of these lines):\n" in p:
            lines = _TRANSCRIPT.findall(p.rsplit("write the facts of these lines):\n", 1)[1])
            return json.dumps({"facts": [f"{who} said: {text}" for who, text in lines
                                         if who not in ("Assistant", "System") and text.strip()]})
        if "You check whether an old statement" in p:
            return json.dumps({"still_true": True})
        if "long-term memory about the people" in p and "Session:\n" in p:
            lines = _TRANSCRIPT.findall(p.rsplit("Session:\n", 1)[1])
            ops = [{"op": "ADD", "text": f"{who} said: {text}"} for who, text in lines
                   if who not in ("Assistant", "System") and text.strip()]
            return json.dumps({"ops": ops})
        if "Label it CORRECT or WRONG" in p:
            gold, gen = _section(p, "Gold answer:", "\n"), _section(p, "Generated answer:", "\n")
            label = "CORRECT" if _words(gold) <= _words(gen) else "WRONG"
            return f'The rule decides. {{"label": "{label}"}}'
        if "Classify the response" in p:
            ref, resp = _section(p, "Reference answer:", "\n\n"), _section(p, "Assistant's response:", "\n\nReply")
            label = ("Correct" if _words(ref) <= _words(resp)
                     else "Omission" if "don't know" in resp.lower() else "Hallucination")
            return _fenced({"reasoning": "rule", "evaluation_result": label})
        if "captured one expected memory point" in p:
            extracted = _section(p, "Extracted memories:", "\n\nExpected memory point:").splitlines()
            expected = _words(_section(p, "Expected memory point:", "\n\nReply"))
            score = 2 if any(expected <= _words(e) for e in extracted) else 0
            return _fenced({"reasoning": "rule", "score": str(score)})
        if "is supported by the conversation it came from" in p:
            return _fenced({"reasoning": "rule", "accuracy_score": "2", "is_included_in_golden_memories": "true"})
        if "applied an update correctly" in p:
            found = _section(p, "Memories returned by the system:", "\n\nUpdated memory").splitlines()
            new = _words(_section(p, "Updated memory (should now hold):", "\n\nOriginal"))
            label = "Correct" if any(new <= _words(f) for f in found) else "Omission"
            return _fenced({"reasoning": "rule", "evaluation_result": label})
        if "identify the question as unanswerable" in p:
            return "yes" if "don't know" in _section(p, "Model response:", "\n\n").lower() else "no"
        if "Answer yes or no" in p:
            answer = _section(p, "Correct answer:", "\n\n") or _section(p, "Rubric:", "\n\n")
            response = _section(p, "Model response:", "\n\n")
            return "yes" if _words(answer) <= _words(response) else "no"
        if "Context:\n" in p and "Question:" in p:
            return self._answer(p)
        return "I don't know"

    def _answer(self, p: str) -> str:
        raw = _section(p, "Context:\n", "\n\nQuestion:").splitlines()
        context = [_CONTEXT.sub("", c).strip().split(": ", 1)[-1] for c in raw if c.strip() != "(nothing)"]
        context = [c for c in context if c]
        question = _section(p, "Question:", "\nAnswer:")
        options = _OPTION.findall(question)
        if options:
            ctx = set().union(*(_words(c) for c in context)) if context else set()
            letter = max(options, key=lambda o: (len(_words(o[1]) & ctx), -ord(o[0])))[0]
            return f"<final_answer>({letter})"
        if not context:
            return "I don't know"
        q = _words(question.splitlines()[0] if question else "")
        return max(context, key=lambda c: len(_words(c) & q))
