"""Embedding benchmark: MiniLM (int8 ONNX) load time and sentences per second at several batch sizes.

About 1000 synthetic but realistic memory facts of 8-20 words (people, places, jobs, pets, preferences, dates) are
embedded with ``MiniLMEmbedder`` in calls of 1, 32 and 64 texts (the embedder's internal batch size set to the same
number). Each setting runs ``--repeats`` times; the JSON keeps every run, the table shows the median and the best.
Also timed: re-embedding the same sentences through ``CachedEmbedder`` (all hits), which is what the reward pays
when it embeds the same memories again. The machine is shared, so the load average before and after is recorded and
the run first waits (up to ``--wait`` seconds) for the 1-minute load to drop below 1.

Run: ``python bench/embed_bench.py [--n 1000] [--repeats 3] [--out docs/results/embed_bench.json]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from deltamem.embed.cache import CachedEmbedder
from deltamem.embed.onnx_minilm import MiniLMEmbedder, vendored_tokenizer_path

TARGET_SENTENCES_PER_S = 250.0
BATCH_SIZES = (1, 32, 64)

NAMES = ["Ana", "Ben", "Chiara", "Dev", "Emeka", "Farah", "Gustav", "Hiro", "Isabel", "Jamal", "Kasia", "Liam",
         "Mina", "Nikolai", "Olu", "Paula", "Quentin", "Rosa", "Sami", "Tess"]
RELATIONS = ["sister", "brother", "partner", "best friend", "manager", "neighbour", "cousin", "daughter", "son"]
CITIES = ["Seattle", "Lisbon", "Nairobi", "Osaka", "Montreal", "Leeds", "Valparaíso", "Kraków", "Austin", "Hanoi"]
JOBS = ["nurse", "data engineer", "primary school teacher", "line cook", "architect", "physiotherapist",
        "bus driver", "patent lawyer", "UX researcher", "pharmacist"]
FOODS = ["sushi", "spicy Sichuan noodles", "vegan ramen", "Ethiopian injera", "sourdough pizza", "lentil curry"]
HOBBIES = ["bouldering", "birdwatching", "playing the cello", "trail running", "pottery", "chess", "salsa dancing"]
PETS = ["a rescue greyhound", "two tabby cats", "an old beagle", "a parrot", "a pair of rabbits"]
MONTHS = ["January", "March", "April", "June", "August", "October", "December"]
ALLERGIES = ["peanuts", "shellfish", "penicillin", "cats", "pollen"]

TEMPLATES = [
    "The user moved to {city} in {month} after accepting a job offer as a {job}.",
    "{name}'s {rel} works as a {job} and lives in {city}.",
    "The user is allergic to {allergy} and always asks restaurants about it.",
    "The user's favourite food is {food}, especially on cold winter evenings.",
    "{name} started {hobby} last {month} and now goes twice a week.",
    "The user has {pet} that needs medication every morning.",
    "The user plans a trip to {city} with {name} in {month} next year.",
    "The user no longer works as a {job}; they quit in {month} to study.",
    "The user prefers to be called {name} rather than by their full name.",
    "{name} and the user met at a {hobby} club in {city} years ago.",
    "The user's {rel} {name} is getting married in {month} in {city}.",
    "The user dislikes {food} and asked never to get it recommended again.",
    "The user runs a small {hobby} group that meets every Thursday night in {city}.",
    "The user is training for a half marathon in {city} this {month}.",
    "{name} has been allergic to {allergy} since childhood.",
    "The user said that {name}, their {rel} from {city}, will visit in {month} and stay for two whole weeks.",
    "Cooking {food} with {name} every Sunday evening has become a small family ritual the user really treasures.",
]


def sentences(n: int, *, seed: int = 7) -> list[str]:
    """``n`` distinct fact sentences of 8-20 words, the same for the same seed."""
    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        text = rng.choice(TEMPLATES).format(
            name=rng.choice(NAMES), rel=rng.choice(RELATIONS), city=rng.choice(CITIES), job=rng.choice(JOBS),
            food=rng.choice(FOODS), hobby=rng.choice(HOBBIES), pet=rng.choice(PETS), month=rng.choice(MONTHS),
            allergy=rng.choice(ALLERGIES))
        if 8 <= len(text.split()) <= 20 and text not in seen:
            seen.add(text)
            out.append(text)
    return out


def wait_for_quiet(limit_s: float) -> float:
    """Wait until the 1-minute load average is below 1 (at most ``limit_s``); the seconds waited."""
    start = time.monotonic()
    while os.getloadavg()[0] >= 1.0 and time.monotonic() - start < limit_s:
        time.sleep(5)
    return round(time.monotonic() - start, 1)


def timed_embed(emb: Any, texts: list[str], call_size: int) -> float:
    """Seconds to embed ``texts`` in calls of ``call_size``."""
    start = time.perf_counter()
    for i in range(0, len(texts), call_size):
        emb.embed(texts[i:i + call_size])
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=1000, help="sentences to embed")
    parser.add_argument("--repeats", type=int, default=3, help="runs per batch size")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads (default all cores)")
    parser.add_argument("--wait", type=float, default=120.0, help="max seconds to wait for a quiet machine")
    parser.add_argument("--out", type=Path, default=Path("docs/results/embed_bench.json"))
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    import onnxruntime
    import tokenizers

    import_s = time.perf_counter() - t0  # paid once per process, on top of the load time below

    texts = sentences(args.n)
    words = [len(t.split()) for t in texts]
    waited = wait_for_quiet(args.wait)
    load_before = os.getloadavg()
    started = dt.datetime.now(dt.UTC)

    load_times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        emb = MiniLMEmbedder(threads=args.threads)
        load_times.append(time.perf_counter() - t0)
    tok = tokenizers.Tokenizer.from_file(str(vendored_tokenizer_path()))
    tok.no_padding()
    tokens = [len(e.ids) for e in tok.encode_batch(texts)]  # token counts incl. [CLS]/[SEP], for the record

    results: dict[str, Any] = {}
    for bs in BATCH_SIZES:
        model = MiniLMEmbedder(batch_size=bs, threads=args.threads)
        model.embed(texts[:bs])  # warm-up: first runs allocate arenas
        runs = [args.n / timed_embed(model, texts, bs) for _ in range(args.repeats)]
        results[f"batch_{bs}"] = {"call_size": bs, "internal_batch_size": bs,
                                  "sentences_per_s_runs": [round(r, 1) for r in runs],
                                  "sentences_per_s_median": round(statistics.median(runs), 1),
                                  "sentences_per_s_best": round(max(runs), 1)}

    cached = CachedEmbedder(MiniLMEmbedder(threads=args.threads))
    cold = args.n / timed_embed(cached, texts, 64)
    warm = [args.n / timed_embed(cached, texts, 64) for _ in range(args.repeats)]
    results["cached_64"] = {"cold_sentences_per_s": round(cold, 1),
                            "all_hits_sentences_per_s_median": round(statistics.median(warm), 1)}

    best_batched = max(results[f"batch_{bs}"]["sentences_per_s_median"] for bs in (32, 64))
    report = {
        "benchmark": "deltamem embed (MiniLM int8 ONNX)",
        "command": " ".join(["python bench/embed_bench.py", *(argv if argv is not None else sys.argv[1:])]),
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(), "machine": platform.machine(), "processor": platform.processor(),
        "python": platform.python_version(), "cpu_count": os.cpu_count(),
        "onnxruntime": onnxruntime.__version__, "tokenizers": tokenizers.__version__,
        "threads": args.threads or os.cpu_count(),
        "waited_for_load_s": waited, "loadavg_before": list(load_before), "loadavg_after": list(os.getloadavg()),
        "model": emb.name, "dim": emb.dim, "model_file": str(emb.model_path),
        "sentences": args.n, "words_min_mean_max": [min(words), round(statistics.mean(words), 1), max(words)],
        "tokens_min_mean_max": [min(tokens), round(statistics.mean(tokens), 1), max(tokens)],
        "example_sentences": texts[:3],
        "import_onnxruntime_tokenizers_s": round(import_s, 3),
        "load_s_runs": [round(t, 3) for t in load_times], "load_s_median": round(statistics.median(load_times), 3),
        "results": results,
        "target_sentences_per_s": TARGET_SENTENCES_PER_S,
        "target_met": best_batched >= TARGET_SENTENCES_PER_S,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")

    print(f"{emb.name} ({emb.dim}-d), {args.n} sentences of {report['words_min_mean_max'][0]}-"
          f"{report['words_min_mean_max'][2]} words, {report['threads']} threads, "
          f"load avg {load_before[0]:.2f} -> {report['loadavg_after'][0]:.2f}")
    print(f"load time: {report['load_s_median'] * 1000:.0f} ms (median of {args.repeats}), "
          f"plus {import_s * 1000:.0f} ms to import onnxruntime and tokenizers once per process")
    print(f"{'batch':>8} {'median sent/s':>14} {'best sent/s':>12}")
    for bs in BATCH_SIZES:
        r = results[f"batch_{bs}"]
        print(f"{bs:>8} {r['sentences_per_s_median']:>14.1f} {r['sentences_per_s_best']:>12.1f}")
    print(f"{'cached':>8} {results['cached_64']['all_hits_sentences_per_s_median']:>14.1f}   (all hits, calls of 64)")
    print(f"target >= {TARGET_SENTENCES_PER_S:.0f} sentences/s batched: {'met' if report['target_met'] else 'NOT met'}"
          f"; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
