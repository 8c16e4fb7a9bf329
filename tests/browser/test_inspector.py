"""The inspector walked in a real browser against a live server: every flow end to end, and the bad inputs.

Screenshots of the pages go to ``$DELTAMEM_UI_SCREENSHOTS`` when it is set (``docs/ui`` holds the committed ones:
``DELTAMEM_UI_SCREENSHOTS=docs/ui python -m pytest tests/browser``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver, WebElement
from selenium.webdriver.support.wait import WebDriverWait
from tests.browser.conftest import Live

NS = "tenant:acme/user:ana"
FACTS = [f"Ana fact number {w}" for w in "one two three four five six seven eight nine ten".split()]


def shot(driver: WebDriver, name: str) -> None:
    folder = os.environ.get("DELTAMEM_UI_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def session(live: Live, *lines: str, key: str | None = None, ns: str = "user:ana") -> dict[str, Any]:
    """A conversation session through the REST API (one message per line; the scripted agent adds each as a
    memory), waited for."""
    headers = {"Authorization": f"Bearer {key or live.key_a}"}
    r = httpx.post(f"{live.url}/v1/sessions", params={"namespace": ns}, headers=headers,
                   json={"messages": [{"speaker": "Ana", "text": t} for t in lines]})
    job_id = r.json()["job_id"]
    for _ in range(500):
        job: dict[str, Any] = httpx.get(f"{live.url}/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.02)
    raise AssertionError(job)


def sign_in(driver: WebDriver, live: Live, key: str | None = None) -> None:
    driver.get(f"{live.url}/ui/")
    assert driver.current_url.endswith("/ui/login")
    driver.find_element(By.ID, "key").send_keys(key or live.key_a)
    go(driver, "sign-in")
    assert driver.find_element(By.TAG_NAME, "h1").text == "Namespaces"


def _gone(element: WebElement) -> bool:
    """Whether an element's page has been replaced. chromedriver says so with a StaleElementReferenceException, or,
    while the next page is still being built, with a generic "Node ... does not belong to the document" error."""
    try:
        element.tag_name  # noqa: B018
    except WebDriverException:
        return True
    return False


def go(driver: WebDriver, target: str | WebElement) -> None:
    """Click a link or submit button (an element, or its id) and wait until the next page has loaded."""
    old = driver.find_element(By.TAG_NAME, "html")
    (driver.find_element(By.ID, target) if isinstance(target, str) else target).click()
    WebDriverWait(driver, 20).until(lambda _: _gone(old))
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return document.readyState") == "complete")


def texts(live: Live, ns: str = NS) -> list[str]:
    return sorted(e.text for e in live.memory.get_all(namespace=ns))


def wait_for(driver: WebDriver, css: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = driver.find_elements(By.CSS_SELECTOR, css)
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"{css} did not appear on {driver.current_url}")


def test_sign_in_search_history_with_provenance_and_sign_out(browser: WebDriver, live: Live) -> None:
    session(live, "I moved to Boston in May.", "I work as a nurse.")
    sign_in(browser, live)
    shot(browser, "namespaces")
    go(browser, browser.find_element(By.LINK_TEXT, "user:ana"))
    assert browser.find_element(By.ID, "count").text == "2"
    assert browser.find_elements(By.CSS_SELECTOR, "#chart rect.bar.add")
    shot(browser, "namespace")
    go(browser, browser.find_element(By.LINK_TEXT, "Memories"))
    browser.find_element(By.ID, "q").send_keys("nurse")
    go(browser, "search")
    first = browser.find_elements(By.CSS_SELECTOR, "#memories a.memory")[0]
    assert "nurse" in first.text
    shot(browser, "memories")
    go(browser, first)
    assert browser.find_element(By.ID, "memory-text").text == "I work as a nurse."
    provenance = browser.find_element(By.ID, "provenance").text
    assert "Ana: I moved to Boston in May.\nAna: I work as a nurse." in provenance  # the excerpt
    assert "ADD" in browser.find_element(By.ID, "history").text
    shot(browser, "memory")
    go(browser, "sign-out")
    browser.get(f"{live.url}/ui/")
    assert browser.current_url.endswith("/ui/login")


def test_revert_a_change_set_after_confirming_and_the_state_returns(browser: WebDriver, live: Live) -> None:
    session(live, "I live in Boston.")
    before = texts(live)
    second = session(live, "I adopted a cat called Tom.")
    sign_in(browser, live)
    browser.get(f"{live.url}/ui/change?ns=user:ana&id={second['change_set']['id']}")
    assert "+" in browser.find_element(By.ID, "diff").text
    shot(browser, "change-set")
    go(browser, "revert")
    assert "Revert change set" in browser.find_element(By.TAG_NAME, "h1").text  # the confirmation step
    assert len(texts(live)) == 2  # nothing happened yet
    go(browser, "confirm-revert")
    assert "reverts" in browser.find_element(By.TAG_NAME, "main").text
    assert texts(live) == before
    browser.get(f"{live.url}/ui/change/revert?ns=user:ana&id={second['change_set']['id']}")
    go(browser, "confirm-revert")
    assert "already reverted" in browser.find_element(By.ID, "error").text  # a revert that cannot be done


def _held(live: Live) -> str:
    httpx.post(f"{live.url}/v1/memories", params={"namespace": "user:ana"},
               headers={"Authorization": f"Bearer {live.key_a}"}, json={"facts": FACTS})
    job = session(live, " ".join(f + "." for f in FACTS) + " WIPE everything.")
    assert job["review_id"], job
    return str(job["review_id"])


def test_review_approve_an_edited_item_and_reject_another(browser: WebDriver, live: Live) -> None:
    first = _held(live)
    sign_in(browser, live)
    browser.get(f"{live.url}/ui/review?ns=user:ana")
    assert first[:8] in browser.find_element(By.ID, "pending").text
    go(browser, browser.find_element(By.CSS_SELECTOR, f"a.item[href*='{first}']"))
    assert browser.find_element(By.ID, "reason").text.startswith("Held because:")
    shot(browser, "review-item")
    boxes = browser.find_elements(By.CSS_SELECTOR, "#edit-form input[type=checkbox]")
    for box in boxes[1:]:
        box.click()  # keep only the first DELETE
    go(browser, "save-edit")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#edit-form input[type=checkbox]")) == 1
    go(browser, "approve")
    assert "Change set" in browser.find_element(By.TAG_NAME, "h1").text
    assert len(texts(live)) == len(FACTS) - 1
    second = _held(live)
    browser.get(f"{live.url}/ui/review/item?ns=user:ana&id={second}")
    go(browser, "reject")
    assert "Review queue" in browser.find_element(By.TAG_NAME, "h1").text
    assert live.memory.review.get(second, namespace=NS).status == "rejected"


def test_ingest_a_pasted_conversation_and_land_on_its_change_set(browser: WebDriver, live: Live) -> None:
    sign_in(browser, live)
    go(browser, browser.find_element(By.LINK_TEXT, "Ingest"))
    browser.find_element(By.ID, "ns").send_keys("user:zoe")
    browser.find_element(By.ID, "conversation").send_keys(
        '{"id": "s1", "date": "2024-05-01", "messages": [{"speaker": "Zoe", "text": "I play the cello."}]}')
    go(browser, "start-ingest")
    assert "/ui/jobs" in browser.current_url or "/ui/change" in browser.current_url
    # The jobs page reloads itself until the job is done, then lands on the session's change set.
    diff = wait_for(browser, "#diff")
    shot(browser, "change-set-ingested")
    assert "/ui/change" in browser.current_url and "I play the cello." in diff.text
    assert texts(live, "tenant:acme/user:zoe") == ["I play the cello."]


def test_export_then_import(browser: WebDriver, live: Live) -> None:
    session(live, "I grow tomatoes.")
    sign_in(browser, live)
    browser.get(f"{live.url}/ui/export?ns=user:ana")
    downloads: Path = browser.downloads  # type: ignore[attr-defined]
    deadline = time.monotonic() + 20
    while not [p for p in downloads.glob("*.jsonl")] and time.monotonic() < deadline:
        time.sleep(0.1)
    exported = next(downloads.glob("*.jsonl"))
    live.memory.reset(namespace=NS)
    browser.get(f"{live.url}/ui/import")
    browser.find_element(By.ID, "import-file").send_keys(str(exported))
    go(browser, "start-import")
    assert "Imported" in browser.find_element(By.ID, "imported").text
    assert texts(live) == ["I grow tomatoes."]
    broken = exported.with_name("broken.jsonl")
    broken.write_text(exported.read_text()[:-40])
    browser.find_element(By.ID, "import-file").send_keys(str(broken))
    go(browser, "start-import")
    assert browser.find_element(By.ID, "error").text
    assert texts(live) == ["I grow tomatoes."]


def test_another_tenants_ids_stored_script_and_cross_site_post(browser: WebDriver, live: Live,
                                                               tmp_path: Path) -> None:
    theirs = session(live, "I live in Oslo.", key=live.key_b, ns="user:bob")
    mine = session(live, '<img src=x onerror="document.title=\'pwned\'"><script>document.title="pwned"</script>')
    sign_in(browser, live)
    cs, mid = theirs["change_set"]["id"], theirs["change_set"]["changes"][0]["memory_id"]
    for path in (f"/ui/memory?ns=user:bob&id={mid}", f"/ui/memory?ns=user:ana&id={mid}",
                 f"/ui/change?ns=user:ana&id={cs}", f"/ui/change/revert?ns=user:bob&id={cs}",
                 f"/ui/jobs?ids={theirs['id']}", "/ui/memories?ns=user:bob", "/ui/export?ns=user:bob"):
        browser.get(live.url + path)
        assert browser.find_element(By.TAG_NAME, "h1").text == "404", path
        assert "Oslo" not in browser.page_source
    browser.get(f"{live.url}/ui/memories?ns=user:ana")
    assert "<script>" in browser.find_element(By.ID, "memories").text  # shown as text ...
    assert browser.title != "pwned"  # ... and never run
    shot(browser, "escaped")
    form = tmp_path / "evil.html"
    form.write_text(f'<form id="f" method="post" action="{live.url}/ui/change/revert">'
                    f'<input name="ns" value="user:ana"><input name="id" value="{mine["change_set"]["id"]}">'
                    f'<input name="csrf" value="guess"></form>'
                    f'<script>document.getElementById("f").submit()</script>')
    browser.get(f"file://{quote(str(form))}")
    time.sleep(1.0)
    assert "/ui/login" in browser.current_url or "403" in browser.page_source  # no cookie, or refused
    assert len(texts(live)) == 1  # nothing was reverted
