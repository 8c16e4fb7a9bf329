"""The server's config: the memory part as load_config reads it, server settings from DELTAMEM_SERVER__*, the admin
key from DELTAMEM_ADMIN_KEY; explicit overrides win."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltamem.core import ConfigError
from deltamem.server.config import load_server_config


def test_environment_and_overrides(tmp_path: Path) -> None:
    toml = tmp_path / "deltamem.toml"
    toml.write_text("top_k = 4\n")
    env = {"DELTAMEM_SERVER__WORKERS": "4", "DELTAMEM_SERVER__RATE_BURST": "7", "DELTAMEM_TOP_K": "6",
           "DELTAMEM_ADMIN_KEY": "from-admin-key", "DELTAMEM_SERVER__ADMIN_KEY": "from-server"}
    cfg = load_server_config(toml, env=env, overrides={"workers": 2}, memory_overrides={"search_mode": "keyword"})
    assert (cfg.workers, cfg.rate_burst, cfg.memory.top_k, cfg.memory.search_mode) == (2, 7, 6, "keyword")
    assert cfg.admin_key is not None and cfg.admin_key.get_secret_value() == "from-admin-key"
    empty = load_server_config(None, env={"DELTAMEM_ADMIN_KEY": "", "DELTAMEM_SERVER__ADMIN_KEY": "s"})
    assert empty.admin_key is not None and empty.admin_key.get_secret_value() == "s"  # empty means unset
    assert load_server_config(None, env={}).admin_key is None


@pytest.mark.parametrize(("env", "message"), [({"DELTAMEM_SERVER__BOGUS": "1"}, "invalid server configuration: bogus"),
                                              ({"DELTAMEM_SERVER__WORKERS": "many"}, "workers"),
                                              ({"DELTAMEM_SERVER__QUEUE": "procrastinate"}, "PostgreSQL store"),
                                              ({"DELTAMEM_BOGUS": "1"}, "invalid configuration: bogus")])
def test_bad_settings_are_config_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_server_config(None, env=env)
