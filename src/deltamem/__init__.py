"""deltamem: long-term memory for LLM assistants, managed by one agent per session (ADD / UPDATE / DELETE / NOOP)."""

__version__ = "0.1.0"
