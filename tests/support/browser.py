"""A real Chromium (Debian's package) driven by Playwright, and screenshots of what it showed.

Playwright's own browser downloads are not used: the tests drive ``/usr/bin/chromium`` through
``executable_path`` so that CI needs nothing beyond ``apt-get install chromium`` (scripts/setup.sh does it).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def chromium_path() -> Path:
    """The browser binary, or a clear failure saying how to install it (never a skip)."""
    found = CHROMIUM if CHROMIUM.exists() else None
    if found is None and (which := shutil.which("chromium")):
        found = Path(which)
    if found is None:
        raise RuntimeError("Chromium is missing: run `apt-get install -y chromium` (scripts/setup.sh does it)")
    return found


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium_path()), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as ``test-artifacts/screenshots/<name>.png``; returns the path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


_UNLABELLED = """
() => Array.from(document.querySelectorAll('input, select, textarea, button'))
  .filter(el => el.type !== 'hidden' && el.offsetParent !== null)
  .filter(el => el.tagName === 'BUTTON'
    ? !(el.innerText.trim() || el.getAttribute('aria-label'))
    : !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
  .map(el => el.outerHTML.slice(0, 120))
"""


def check_basics(page: Page) -> None:
    """What every page must have for keyboard and screen-reader users: one h1, a main landmark reachable by the
    skip link, and a label (or text) on every visible control."""
    assert page.locator("h1").count() == 1, f"{page.url}: expected exactly one h1"
    assert page.locator("main#main").count() == 1, f"{page.url}: no main landmark"
    unlabelled = page.evaluate(_UNLABELLED)
    assert not unlabelled, f"{page.url}: controls without a label: {unlabelled}"


def log_in(page: Page, base: str, username: str, password: str) -> None:
    """The log-in form filled and sent as a person does; waits until the workspace's Deployments page is shown."""
    from playwright.sync_api import expect

    page.goto(base + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/w/[^/]+/deployments$"))
