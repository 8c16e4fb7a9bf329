"""``python -m deltamem.train --config FILE [--resume] [--dry-run]``: the program ``accelerate launch`` runs (the
``deltamem train`` command without the rest of the CLI); the summary, or the dry run's checks, is printed as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from deltamem.core import DeltamemError


def main(argv: list[str] | None = None) -> None:
    """Train (or check) per the config; exit status 1 on a failed dry run or a configuration error."""
    parser = argparse.ArgumentParser(prog="python -m deltamem.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", "-c", type=Path, help="training config (TOML)")
    parser.add_argument("--dry-run", action="store_true", help="validate config, data and launcher files only")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in output.dir")
    parser.add_argument("--data", type=Path, help="override data.path")
    parser.add_argument("--output-dir", type=Path, help="override output.dir")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    from deltamem.train.run import load, reward_embedder

    try:
        cfg = load(args.config, data=args.data, output_dir=args.output_dir)
        embedder = reward_embedder(cfg.reward.embedder)
        if args.dry_run:
            from deltamem.train.dryrun import dry_run

            report = dry_run(cfg, embedder)
            print(json.dumps(report.to_dict(), indent=2))
            sys.exit(0 if report.ok else 1)
        from deltamem.train.trainer import train

        print(json.dumps(train(cfg, embedder, resume=args.resume), indent=2))
    except (DeltamemError, OSError, ValueError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
