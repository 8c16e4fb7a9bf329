from pathlib import Path

import pytest

from deltamem.config import MemoryConfig, default_home, load_config
from deltamem.core import ConfigError


def test_defaults() -> None:
    cfg = load_config(env={})
    assert cfg == MemoryConfig()
    assert cfg.embedder.provider == "minilm" and cfg.store.provider == "sqlite" and cfg.search_mode == "hybrid"


def test_toml_env_and_overrides_in_precedence(tmp_path: Path) -> None:
    toml = tmp_path / "deltamem.toml"
    toml.write_text('top_k = 5\nsearch_mode = "vector"\n[store]\npath = "/data/a.db"\n'
                    '[embedder]\nprovider = "hashing"\n')
    cfg = load_config(toml, env={"DELTAMEM_TOP_K": "7", "DELTAMEM_STORE__PATH": "/data/b.db"},
                      overrides={"search_mode": "keyword"})
    assert cfg.top_k == 7 and cfg.store.path == Path("/data/b.db") and cfg.search_mode == "keyword"
    assert cfg.embedder.provider == "hashing"


def test_home_sets_sqlite_path() -> None:
    cfg = load_config(env={"DELTAMEM_HOME": "/srv/mem"})
    assert cfg.sqlite_path() == Path("/srv/mem/memory.db")
    assert default_home({"XDG_DATA_HOME": "/x"}) == Path("/x/deltamem")


def test_command_line_variables_are_not_config_keys() -> None:
    # Read by the CLI / server elsewhere; they used to fail every command with "Extra inputs are not permitted".
    env = {"DELTAMEM_CACHE_DIR": "/models", "DELTAMEM_REUSE_SERVER": "0", "DELTAMEM_EVAL_DATA": "/d",
           "DELTAMEM_MCP_TOKEN": "t", "DELTAMEM_ADMIN_KEY": "k"}
    assert load_config(env=env) == MemoryConfig()


@pytest.mark.parametrize(
    ("env", "message"),
    [({"DELTAMEM_TOP_K": "many"}, "top_k"), ({"DELTAMEM_EMBEDDER__PROVIDER": "word2vec"}, "embedder.provider"),
     ({"DELTAMEM_BOGUS": "1"}, "bogus")],
)
def test_bad_values_name_the_key(env: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(env=env)


def test_unreadable_and_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml", env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("top_k = = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad, env={})


def test_deltamem_table_and_tables_merge_key_by_key(tmp_path: Path) -> None:
    toml = tmp_path / "pyproject-like.toml"
    toml.write_text('[deltamem]\ntop_k = 5\n[deltamem.store]\nprovider = "memory"\n'
                    '[deltamem.review]\nmax_deletes = 9\n')
    cfg = load_config(toml, env={"DELTAMEM_STORE__PATH": "/data/c.db", "DELTAMEM_REVIEW__ENABLED": "false"},
                      overrides={"review": {"window_hours": 2}})
    assert (cfg.top_k, cfg.store.provider, cfg.store.path) == (5, "memory", Path("/data/c.db"))
    assert (cfg.review.max_deletes, cfg.review.enabled, cfg.review.window_hours) == (9, False, 2.0)


def test_environment_edge_cases() -> None:
    assert load_config(env={"DELTAMEM_HOME": ""}).home is None  # set but empty: not set (as default_home reads it)
    assert load_config(env={"deltamem_top_k": "3"}).top_k == 10  # only DELTAMEM_ as written
    assert load_config(env={"DELTAMEM_STORE": '{"provider": "memory"}'}).store.provider == "memory"  # a table as JSON
    with pytest.raises(ConfigError, match="store"):
        load_config(env={"DELTAMEM_STORE": "memory"})
    with pytest.raises(ConfigError, match=r"store\.bogus"):
        load_config(env={"DELTAMEM_STORE__BOGUS": "1"})
