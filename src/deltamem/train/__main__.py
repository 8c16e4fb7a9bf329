"""``python -m deltamem.train --config FILE [--resume] [--dry-run]``: the entry point ``accelerate launch`` runs."""

from deltamem.cli.train_cmd import standalone_main

if __name__ == "__main__":
    standalone_main()
