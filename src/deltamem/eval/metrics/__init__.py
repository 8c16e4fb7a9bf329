"""Benchmark metrics: pure functions over answers and per-item judge verdicts.

* :mod:`.text` -- token F1 and BLEU-1 as in mem0's LoCoMo evaluation;
* :mod:`.locomo` -- LoCoMo J / F1 / B1 per category (5 excluded), judge prompt and reply parser;
* :mod:`.halumem` -- HaluMem extraction, update and QA ratios from judgements, judge prompts and parsers;
* :mod:`.personamem` -- option-letter matching and accuracy per question type;
* :mod:`.longmemeval` -- yes/no judge prompts per question type, per-type / task-averaged / abstention accuracy;
* :mod:`.judge` -- JSON extraction from judge replies and the :class:`JudgeVerdict` record.
"""

from deltamem.eval.metrics.judge import JudgeVerdict, extract_json_object
from deltamem.eval.metrics.locomo import (
    LocomoItem,
    LocomoReport,
    aggregate_locomo,
    locomo_judge_prompt,
    parse_locomo_judge,
    score_locomo_item,
)
from deltamem.eval.metrics.longmemeval import LongMemEvalItem, aggregate_longmemeval, parse_yes_no
from deltamem.eval.metrics.personamem import PersonaMemItem, aggregate_personamem, extract_option, is_correct
from deltamem.eval.metrics.text import bleu1, token_f1, word_tokenize

__all__ = [
    "JudgeVerdict",
    "LocomoItem",
    "LocomoReport",
    "LongMemEvalItem",
    "PersonaMemItem",
    "aggregate_locomo",
    "aggregate_longmemeval",
    "aggregate_personamem",
    "bleu1",
    "extract_json_object",
    "extract_option",
    "is_correct",
    "locomo_judge_prompt",
    "parse_locomo_judge",
    "parse_yes_no",
    "score_locomo_item",
    "token_f1",
    "word_tokenize",
]
