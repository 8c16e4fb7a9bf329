"""Rewards per second of the MLD scorer on typical transitions, with warm caches.

A transition: a persona state S_t of ~50 fact sentences, a target S*_{t+1} with 1-10 changed memories (updates,
deletes, adds), and a rollout's prediction (some ops right, some paraphrased, some missed, some spurious). The
caches are warmed by scoring every rollout once; then ``--n`` rewards are timed on three paths:

* ``state``: predicted state (records) vs target, the main figure;
* ``raw``: the agent's raw JSON output + S_t (parse, ``core.apply``, then score);
* ``batch``: ``score_many`` over groups of 16 raw outputs (one GRPO group per call).

Run: ``python bench/reward_bench.py [--n 5000] [--out docs/results/reward_bench.json]``.
Uses ``deltamem.embed.onnx_minilm.MiniLMEmbedder`` when importable, else ``HashingEmbedder`` (said in the JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from deltamem.embed.base import Embedder
from deltamem.reward import MLDScorer, RewardConfig

NAMES = ["Caroline", "Melanie", "Jon", "Gina", "Priya", "Tomás", "Aiko", "Sven"]
CITIES = ["Seattle", "Boston", "Denver", "Austin", "Lisbon", "Osaka", "Toronto", "Nairobi", "Leeds", "Porto"]
JOBS = [("nurse", "Mass General"), ("teacher", "Lincoln High"), ("engineer", "Boeing"), ("barista", "Blue Bottle"),
        ("accountant", "Deloitte"), ("designer", "IDEO")]
PETS = [("dog", "Rex"), ("cat", "Miso"), ("parrot", "Kiwi"), ("rabbit", "Clover")]
HOBBIES = ["pottery", "salsa dancing", "rock climbing", "watercolour painting", "chess", "trail running"]
MONTHS = ["January", "March", "May", "July", "September", "November"]
FOODS = ["peanuts", "shellfish", "gluten", "dairy"]
COUNTRIES = ["Japan", "Peru", "Iceland", "Morocco", "Vietnam", "Norway"]


def fact(rng: random.Random, who: str) -> tuple[str, list[str]]:
    """One realistic fact sentence about ``who`` and its keywords."""
    kind = rng.randrange(8)
    year = str(rng.choice([2021, 2022, 2023, 2024]))
    if kind == 0:
        city = rng.choice(CITIES)
        return f"{who} lives in {city} with a roommate", [city]
    if kind == 1:
        job, org = rng.choice(JOBS)
        return f"{who} works as a {job} at {org}", [job, org]
    if kind == 2:
        pet, name = rng.choice(PETS)
        age = str(rng.randint(1, 12))
        return f"{who} has a {age}-year-old {pet} named {name}", [pet, name, age]
    if kind == 3:
        hobby, month = rng.choice(HOBBIES), rng.choice(MONTHS)
        return f"{who} started {hobby} classes in {month} {year}", [hobby, f"{month} {year}"]
    if kind == 4:
        food = rng.choice(FOODS)
        return f"{who} is allergic to {food} and avoids it at restaurants", [food]
    if kind == 5:
        country, month = rng.choice(COUNTRIES), rng.choice(MONTHS)
        return f"{who} plans a trip to {country} in {month}", [country, month]
    if kind == 6:
        sib, city = rng.choice(NAMES), rng.choice(CITIES)
        return f"{who}'s sibling {sib} moved to {city} in {year}", [sib, city, year]
    book = rng.choice(["Dune", "Beloved", "Middlemarch", "The Overstory"])
    return f"{who}'s favourite novel is {book}, which they reread every summer", [book]


def paraphrase(text: str, keywords: list[str], rng: random.Random) -> str:
    """A rollout's wording of a target fact: reworded, sometimes dropping one keyword."""
    out = text.replace(" lives in ", " has settled in ").replace(" works as ", " is employed as ").replace(
        " started ", " began ").replace(" plans a trip to ", " is planning to visit ")
    if keywords and rng.random() < 0.3:
        out = out.replace(rng.choice(keywords), "somewhere")
    return out if out != text else "These days " + text[0].lower() + text[1:]


def transition(rng: random.Random, size: int = 50, *, hard: bool = False,
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """(S_t, S*_{t+1}, raw outputs of 4 rollouts) for one session; ``hard``: 10 changes, all reworded, 1 spurious."""
    who = rng.choice(NAMES)
    texts: dict[str, list[str]] = {}
    while len(texts) < size:  # distinct facts, as in a deduplicated memory
        text, kw = fact(rng, who)
        texts.setdefault(text, kw)
    state = [{"id": f"m{i}", "text": t, "keywords": kw} for i, (t, kw) in enumerate(texts.items())]
    touched = rng.sample(range(size), 10 if hard else rng.randint(1, 10))
    target = {m["id"]: m for m in state}
    gold: list[tuple[dict[str, Any], list[str]]] = []
    for n, i in enumerate(touched):
        kind = rng.choice(["UPDATE", "UPDATE", "DELETE", "ADD"])
        if kind == "DELETE":
            del target[f"m{i}"]
            gold.append(({"op": "DELETE", "id": f"m{i}"}, []))
            continue
        text, kw = fact(rng, who)
        if kind == "UPDATE":
            target[f"m{i}"] = {"id": f"m{i}", "text": text, "keywords": kw}
            gold.append(({"op": "UPDATE", "id": f"m{i}", "text": text}, kw))
        else:
            target[f"new{n}"] = {"id": f"new{n}", "text": text, "keywords": kw}
            gold.append(({"op": "ADD", "text": text}, kw))
    outputs = []
    for _ in range(4):  # rollouts of one GRPO group
        ops = []
        for op, kw in gold:
            roll = 0.3 if hard else rng.random()
            if roll < 0.15:
                continue  # missed
            ops.append({**op, "text": paraphrase(op["text"], kw, rng)} if "text" in op and roll < 0.6 else op)
        if hard or rng.random() < 0.4:
            ops.append({"op": "ADD", "text": fact(rng, who)[0]})  # spurious
        outputs.append("```json\n" + json.dumps(ops) + "\n```")
    return state, list(target.values()), outputs


def embedder() -> tuple[Embedder, str]:
    try:
        from deltamem.embed.onnx_minilm import MiniLMEmbedder

        real: Embedder = MiniLMEmbedder()
        return real, ""
    except Exception as e:  # any failure to load the real model means: fall back, and say so
        from deltamem.embed.hashing import HashingEmbedder

        return HashingEmbedder(dim=384), f"MiniLM unavailable ({type(e).__name__}: {e}); used HashingEmbedder(384)"


def timed(fn: Any, n: int) -> float:
    start = time.perf_counter()
    fn(n)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="rewards to time per path (>= 2000)")
    parser.add_argument("--transitions", type=int, default=250)
    parser.add_argument("--credit", default="product", choices=["product", "threshold", "min"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("docs/results/reward_bench.json"))
    args = parser.parse_args()

    rng = random.Random(args.seed)
    data = [transition(rng) for _ in range(args.transitions)]
    emb, fallback = embedder()
    scorer = MLDScorer(emb, config=RewardConfig(credit=args.credit))
    raw = [(out, state, target) for state, target, outs in data for out in outs]
    # Predicted states are computed once (by the raw path) so the state path times scoring alone.
    preds = []
    t0 = time.perf_counter()
    for out, state, target in raw:  # warm-up: every text of every rollout gets embedded and cached here
        r = scorer.score(out, target, state=state)
        preds.append((_predicted(out, state), target, r.reward))
    warm_s = time.perf_counter() - t0
    warm_calls = scorer.embed_calls

    def state_path(n: int) -> None:
        for k in range(n):
            pred, target, _ = preds[k % len(preds)]
            scorer.score(pred, target)

    def raw_path(n: int) -> None:
        for k in range(n):
            out, state, target = raw[k % len(raw)]
            scorer.score(out, target, state=state)

    def batch_path(n: int) -> None:
        for k in range(0, n, 16):
            group = [raw[(k + j) % len(raw)] for j in range(16)]
            scorer.score_many([g[0] for g in group], [g[2] for g in group], states=[g[1] for g in group])

    rates = {}
    for name, fn in (("state", state_path), ("raw", raw_path), ("batch", batch_path)):
        runs = [args.n / timed(fn, args.n) for _ in range(3)]
        rates[name] = {"rewards_per_s_median": round(statistics.median(runs)), "runs": [round(x) for x in runs]}
    assert scorer.embed_calls == warm_calls, "timed loops must run on cached vectors only"

    # Upper end of "typical": 10 changed memories, every one reworded, plus a spurious ADD (Δ about 11 × 10).
    hard = [(out, state, target) for state, target, outs in (transition(rng, hard=True) for _ in range(50))
            for out in outs]
    hard_preds = [(_predicted(out, state), target) for out, state, target in hard]
    for p, target in hard_preds:
        scorer.score(p, target)
    hard_warm_calls = scorer.embed_calls

    def hard_path(n: int) -> None:
        for k in range(n):
            p, target = hard_preds[k % len(hard_preds)]
            scorer.score(p, target)

    runs = [args.n / timed(hard_path, args.n) for _ in range(3)]
    rates["hard_state"] = {"rewards_per_s_median": round(statistics.median(runs)), "runs": [round(x) for x in runs]}
    assert scorer.embed_calls == hard_warm_calls
    hard_deltas = [(len(r.delta_pred), len(r.delta_target)) for r in (scorer.score(p, t) for p, t in hard_preds)]

    rewards = [p[2] for p in preds]
    deltas = [(len(r.delta_pred), len(r.delta_target)) for r in (scorer.score(p, t) for p, t, _ in preds[:500])]
    result = {
        "benchmark": "MLD reward, rewards per second on cached embeddings",
        "command": " ".join(["python", "bench/reward_bench.py", *sys.argv[1:]]),
        "embedder": scorer.embedder.name, "embedder_fallback": fallback or None,
        "credit": args.credit, "timed_rewards_per_path": args.n, "repeats": 3,
        "transitions": args.transitions, "rollouts": len(raw), "state_size": 50, "changed_per_transition": "1-10",
        "mean_delta_pred": round(statistics.mean(d[0] for d in deltas), 2),
        "mean_delta_target": round(statistics.mean(d[1] for d in deltas), 2),
        "mean_reward": round(statistics.mean(rewards), 4),
        "hard_mean_delta_pred": round(statistics.mean(d[0] for d in hard_deltas), 2),
        "hard_mean_delta_target": round(statistics.mean(d[1] for d in hard_deltas), 2),
        "warmup_seconds": round(warm_s, 3), "warmup_embed_calls": warm_calls,
        "cached_vectors": scorer.cache_info()["vectors"],
        **{f"{k}_path": v for k, v in rates.items()},
        "loadavg_before_after": [list(LOAD_BEFORE), list(os.getloadavg())],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def _predicted(out: str, state: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from deltamem.core import apply, op_from_dict
    from deltamem.reward import extract_ops, records_of, state_from_records

    ops = [op_from_dict(d) for d in extract_ops(out)]
    return records_of(apply(state_from_records(state), ops).state)


LOAD_BEFORE = os.getloadavg()

if __name__ == "__main__":
    main()
