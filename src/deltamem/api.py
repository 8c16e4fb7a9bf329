"""Deprecated module path, kept so that old imports keep working: import from :mod:`deltamem` (or
:mod:`deltamem.facade.memory`, where the code now lives)."""

from deltamem._moved import forwarder

__getattr__ = forwarder("deltamem.api", "deltamem.facade.memory", "Memory and AsyncMemory from deltamem")
