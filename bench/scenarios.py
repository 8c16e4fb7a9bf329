"""Run the hand-written update scenarios (tests/scenarios/scenarios.json) with an agent LLM and report the mean
MLD reward per scenario and kind, and the JSON validity rate.

    python bench/scenarios.py --llm local --out docs/results
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from deltamem.config import EmbedderConfig, LLMConfig
from deltamem.eval.scenarios import load_scenarios, run_suite
from deltamem.registry import build_chat_model, build_embedder, parse_llm_spec
from deltamem.reward import MLDScorer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llm", default="local")
    ap.add_argument("--embedder", default="minilm")
    ap.add_argument("--suite", type=Path, default=Path("tests/scenarios/scenarios.json"))
    ap.add_argument("--out", type=Path, default=Path("docs/results"))
    args = ap.parse_args()
    llm = build_chat_model(LLMConfig(**{k: v for k, v in parse_llm_spec(args.llm).items() if v is not None}))
    if llm is None:
        sys.exit("the scenario suite needs an LLM")
    embedder = build_embedder(EmbedderConfig(provider=args.embedder))

    def show(r: object) -> None:
        print(f"{r.name:22s} {r.kind:14s} reward {r.reward:.3f} parsed {r.parsed} {r.seconds:.1f} s "  # type: ignore[attr-defined]
              f"{r.error}", file=sys.stderr)  # type: ignore[attr-defined]

    report = run_suite(load_scenarios(args.suite), llm=llm, embedder=embedder, scorer=MLDScorer(embedder),
                       on_result=show)
    report["command"] = "python " + " ".join(sys.argv)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scenarios.json").write_text(json.dumps(report, indent=2, default=str))
    lines = [f"# Scenario suite: {report['model']}", "",
             f"Command: `{report['command']}` ({report['date']}). Mean MLD reward **{report['mean_reward']:.3f}**, "
             f"usable JSON {report['json_valid_rate']:.0%} (first try {report['first_try_valid_rate']:.0%}), "
             f"{report['mean_seconds']:.1f} s per scenario.", "",
             "| kind | mean reward |", "|---|---|"]
    lines += [f"| {k} | {v:.3f} |" for k, v in report["mean_reward_by_kind"].items()]
    lines += ["", "| scenario | kind | reward | usable JSON | calls | final state |", "|---|---|---|---|---|---|"]
    for r in report["results"]:
        state = "; ".join(r["final_state"]) or r["error"]
        lines.append(f"| {r['name']} | {r['kind']} | {r['reward']:.3f} | {r['parsed']} | "
                     f"{r['usage'].get('calls', '')} | {state} |")
    (args.out / "scenarios.md").write_text("\n".join(lines) + "\n")
    print(json.dumps({k: report[k] for k in ("mean_reward", "json_valid_rate", "mean_reward_by_kind")}, indent=2))


if __name__ == "__main__":
    main()
