"""Deprecated module path, kept so that old imports keep working: the benchmark loaders now live in
:mod:`deltamem.datasets` (below the agent, which reads LoCoMo files with them too)."""

from deltamem._moved import forwarder

__getattr__ = forwarder("deltamem.eval.loaders", "deltamem.datasets", "the benchmark loaders")
