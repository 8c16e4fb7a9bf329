"""A live deltamem server on loopback and a headless Chromium (Debian's package, driven by Selenium) to walk it.

The browser comes from the machine, never from a download: ``scripts/setup_browser.sh`` installs Debian's
``chromium`` and ``chromium-driver``. Without them the tests are skipped, except under ``CI=true``, where a missing
browser fails the run (the inspector must be tested in a real browser there).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.server.conftest import make_memory

from deltamem.facade.memory import Memory
from deltamem.server import ServerConfig, create_app
from deltamem.server.keys import KeyStore
from deltamem.server.state import StateDB

CHROMIUM = os.environ.get("DELTAMEM_CHROMIUM", "/usr/bin/chromium")
DRIVER = os.environ.get("DELTAMEM_CHROMEDRIVER", "/usr/bin/chromedriver")


def _need_browser() -> None:
    missing = [p for p in (CHROMIUM, DRIVER) if not (Path(p).exists() or shutil.which(p))]
    if missing or not _has_selenium():
        reason = f"no browser for the inspector tests ({', '.join(missing) or 'selenium'} missing): run " \
                 "scripts/setup_browser.sh"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def _has_selenium() -> bool:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class Live:
    """The running server: its address, two tenants' keys, the memory behind it."""

    url: str
    key_a: str
    key_b: str
    memory: Memory
    keys: KeyStore


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    """``deltamem serve`` in a thread on a free loopback port (SQLite store, scripted model)."""
    import uvicorn

    memory = make_memory(tmp_path / "memory.db")
    db = StateDB(tmp_path / "server.db")
    app = create_app(ServerConfig(state_path=tmp_path / "server.db", rate_per_s=0), memory=memory, db=db)
    keys = KeyStore(db)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="ui-live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    try:
        yield Live(f"http://127.0.0.1:{port}", keys.create(tenant="acme")[1], keys.create(tenant="bravo")[1],
                   memory, keys)
    finally:
        server.should_exit = True
        thread.join(10)
        memory.close()
        db.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A headless Chromium; its downloads land in ``tmp_path / "downloads"``."""
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,900", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.downloads = downloads  # type: ignore[attr-defined]
    try:
        yield driver
    finally:
        driver.quit()
