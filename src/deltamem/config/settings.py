"""Reading settings at the edges, with pydantic-settings: a TOML file, ``DELTAMEM_*`` variables, explicit overrides.

Components take plain frozen models or dataclasses; only the entry points read files and the environment, and they
all do it through :func:`read_settings`. Precedence, highest first: explicit overrides > environment > TOML file >
defaults. Tables merge key by key, so ``DELTAMEM_STORE__PATH`` replaces the file's ``[store] path`` and keeps the
rest of ``[store]``.

Importing this module imports pydantic-settings; :mod:`deltamem.config` imports it only when a config is loaded.
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from deltamem.core.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

#: The prefix of every variable deltamem reads, and the separator of nested keys (``DELTAMEM_STORE__PATH``).
PREFIX, NESTED = "DELTAMEM_", "__"


class TomlFile(TomlConfigSettingsSource):
    """The TOML file ``path`` (its ``[table]`` when ``table`` names one the file has, else the whole file).

    Unlike pydantic-settings' own source, a missing or unreadable file is a :class:`ConfigError`, not an empty
    source, and so is a file that is not TOML; the messages name the file as ``label`` (default
    ``config file <path>``).
    """

    def __init__(self, settings_cls: type[BaseSettings], path: str | Path, *, table: str | None = None,
                 label: str | None = None) -> None:
        self._path, self._table = Path(path), table
        self._label = label or f"config file {path}"
        try:
            with self._path.open("rb"):  # pydantic-settings skips a file that is not there
                pass
        except OSError as e:
            raise ConfigError(f"cannot read {self._label}: {e.strerror}") from e
        super().__init__(settings_cls, toml_file=self._path)

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        try:
            data = tomllib.loads(Path(file_path).read_text(encoding="utf-8"))
        except OSError as e:
            raise ConfigError(f"cannot read {self._label}: {e.strerror}") from e
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{self._label} is not valid TOML: {e}") from e
        table = data.get(self._table) if self._table else None
        return table if isinstance(table, dict) else data


class Environment(EnvSettingsSource):
    """The variables of ``env`` that start with ``prefix`` (upper case, as written), nested with ``__``.

    ``env`` is a mapping (tests and callers pass their own; the entry points pass ``os.environ``). Names in
    ``skip`` belong to someone else and are not read. A variable under ``prefix`` that names no field is reported as
    an unknown key, as a key of the TOML file would be, so a misspelt variable never passes unnoticed.
    """

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str], *, prefix: str = PREFIX,
                 skip: Collection[str] = ()) -> None:
        self._given = {k: v for k, v in env.items() if k.startswith(prefix) and k not in skip}
        super().__init__(settings_cls, case_sensitive=False, env_prefix=prefix, env_nested_delimiter=NESTED)

    def _load_env_vars(self) -> Mapping[str, str | None]:  # the hook pydantic-settings' dotenv source uses too
        return {k.lower(): v for k, v in self._given.items()}

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        for name, value in self._given.items():
            key = name[len(self.env_prefix):].lower().split(NESTED, 1)[0]
            if key not in self.settings_cls.model_fields:
                data[key] = value  # extra="forbid" rejects it with the variable's key
        return data


def read_settings(model: type[M], *, toml: str | Path | None = None, table: str | None = None,
                  label: str | None = None, env: Mapping[str, str] | None = None, prefix: str = PREFIX,
                  skip: Collection[str] = (), overrides: Mapping[str, Any] | None = None) -> M:
    """A ``model`` from ``overrides`` > ``env`` (when given) > the TOML file ``toml`` (when given) > its defaults.

    ``table``, ``label``: see :class:`TomlFile`; ``prefix``, ``skip``: see :class:`Environment`. Raises
    :class:`ConfigError` for a file that cannot be read or parsed and for a variable that is not valid JSON where
    a table is expected, and pydantic's ``ValidationError`` for invalid values (each edge words its own message,
    e.g. with :func:`problems`). The BaseSettings class is made per call (a few milliseconds), so that the sources
    of a call are its own and nothing is shared between threads.
    """

    class Settings(BaseSettings, model):  # type: ignore[valid-type,misc]
        model_config = SettingsConfigDict(extra="forbid")

        @classmethod
        def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                       env_settings: PydanticBaseSettingsSource,
                                       dotenv_settings: PydanticBaseSettingsSource,
                                       file_secret_settings: PydanticBaseSettingsSource,
                                       ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [init_settings]
            if env is not None:
                sources.append(Environment(settings_cls, env, prefix=prefix, skip=skip))
            if toml is not None:
                sources.append(TomlFile(settings_cls, toml, table=table, label=label))
            return tuple(sources)

    try:
        settings = Settings(**dict(overrides or {}))
    except SettingsError as e:  # e.g. DELTAMEM_STORE=sqlite: a table given as a plain value, not JSON
        raise ConfigError(f"invalid environment variable: {e}") from e
    return model.model_validate(dict(settings))  # the plain model the components take


def problems(error: ValidationError) -> str:
    """One line naming each invalid key by its dotted path: ``top_k: Input should be a valid integer; ...``."""
    return "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in error.errors())
