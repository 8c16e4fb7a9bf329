"""The SQL core shared by SQLite and PostgreSQL: :class:`SqlStore` (the store logic, written once) over a
:class:`Dialect` (what each database says differently). ``rows.py`` holds the shared tables' statements and row
mapping."""

from deltamem.stores.sql.core import SqlStore
from deltamem.stores.sql.dialect import Dialect

__all__ = ["Dialect", "SqlStore"]
