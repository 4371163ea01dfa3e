"""Real-browser test support: Debian's Chromium (``/usr/bin/chromium``) driven by Playwright.

Nothing here downloads anything: Playwright never fetches a browser of its own (``playwright
install`` is never run), and axe-core comes inside the ``axe-playwright-python`` package. CI
(``.ci/run``) installs Chromium with apt when it is missing.

- ``browser``: Chromium for one test module. Not for the whole session: between its calls
  Playwright's sync API leaves its event loop marked as running in the main thread, so any
  later test in the same worker that calls ``asyncio.run`` would fail.
- ``contexts``: a new browser context (its own cookies: one person) per call, closed after
  the test.
- ``axe(page)``: no ``serious`` or ``critical`` accessibility violations; the others are
  printed (``pytest -rP`` or ``-s`` shows them).
- ``screenshot(page, name)``: ``docs/images/console-<name>.png``, only when
  ``SOPFLOW_SCREENSHOTS=1`` (an ordinary run never rewrites the docs' pictures).
- ``assert_focus_visible(page)``: the focused element shows a focus indicator.

Without ``/usr/bin/chromium`` the browser tests skip, saying why; in CI (``CI=true``) they
fail instead, so a machine without the browser cannot pass unnoticed.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
# No sandbox: CI runs as root, where Chromium's sandbox refuses to start.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu"]
IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"
SCREENSHOTS_ENV = "SOPFLOW_SCREENSHOTS"
# Every wait in a browser test is on a condition, with this deadline.
DEADLINE_MS = 15_000
VIEWPORT = {"width": 1280, "height": 800}
BLOCKING = ("serious", "critical")
# axe-core as the package ships it; run in the page, offline.
AXE_SCRIPT = files("axe_playwright_python").joinpath("axe.min.js").read_text(encoding="utf-8")

NewContext = Callable[..., BrowserContext]


def in_ci() -> bool:
    """Whether this is a CI run (CI sets ``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def versions() -> str:
    """Chromium's version, and Playwright's with the Chromium it was built against (a Debian
    update can move Chromium past it): ``python -m tests.browser`` prints them."""
    shipped = files("playwright").joinpath("driver", "package", "browsers.json")
    built_for = next(
        b["browserVersion"]
        for b in json.loads(shipped.read_text(encoding="utf-8"))["browsers"]
        if b["name"] == "chromium"
    )
    chromium = f"{CHROMIUM} is missing"
    if CHROMIUM.exists():
        found = subprocess.run(
            [str(CHROMIUM), "--version"], capture_output=True, text=True, check=True, timeout=60
        )
        chromium = found.stdout.strip()
    return f"{chromium}\nPlaywright {version('playwright')} (built against Chromium {built_for})"


def require_chromium() -> None:
    """Skip (on a developer's machine) or fail (in CI) when Debian's Chromium is missing."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return
    why = f"{CHROMIUM} is missing: apt-get install chromium (never `playwright install`)"
    if in_ci():
        pytest.fail(f"CI must run the browser tests: {why}", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium, for one module (see the module's docstring for why not longer)."""
    require_chromium()
    expect.set_options(timeout=DEADLINE_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def contexts(browser: Browser) -> Iterator[NewContext]:
    """``contexts(base_url=...)``: a new context (one person's cookies and pages), the same
    size, locale, time zone and motion for every screenshot; all closed after the test."""
    opened: list[BrowserContext] = []

    def new(**options: Any) -> BrowserContext:
        settings: dict[str, Any] = {
            "viewport": VIEWPORT,
            "device_scale_factor": 1,
            "locale": "en-GB",
            "timezone_id": "UTC",
            "reduced_motion": "reduce",
            "color_scheme": "light",
        }
        context = browser.new_context(**(settings | options))
        context.set_default_timeout(DEADLINE_MS)
        opened.append(context)
        return context

    yield new
    for context in opened:
        context.close()


def _describe(violation: dict[str, Any]) -> str:
    targets = [", ".join(map(str, node["target"])) for node in violation["nodes"]]
    return (
        f"{violation['impact']}: {violation['id']} ({violation['help']}) "
        f"{violation['helpUrl']}\n    on " + "\n    on ".join(targets)
    )


def axe(page: Page, label: str = "") -> list[dict[str, Any]]:
    """Run axe-core on the page as it is; fail on any serious or critical violation, print
    the rest. The violations found, for a test that wants to look closer."""
    page.evaluate(AXE_SCRIPT)
    results: dict[str, Any] = page.evaluate(
        "() => axe.run(document, {resultTypes: ['violations']})"
    )
    violations: list[dict[str, Any]] = results["violations"]
    where = label or page.url
    minor = [v for v in violations if v.get("impact") not in BLOCKING]
    for violation in minor:
        print(f"axe, {where}: {_describe(violation)}")
    blocking = [v for v in violations if v.get("impact") in BLOCKING]
    assert not blocking, f"axe, {where}:\n" + "\n".join(map(_describe, blocking))
    return violations


def screenshots_on() -> bool:
    """Whether this run writes the docs' screenshots (``SOPFLOW_SCREENSHOTS=1``)."""
    return os.environ.get(SCREENSHOTS_ENV) == "1"


def screenshot(page: Page, name: str) -> Path | None:
    """``docs/images/console-<name>.png`` of the whole page, when screenshots are on."""
    if not screenshots_on():
        return None
    path = IMAGES / f"console-{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=path, full_page=True, animations="disabled", caret="hide")
    return path


FOCUS_STYLE = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const s = getComputedStyle(el);
  return {
    tag: el.tagName.toLowerCase(),
    name: el.getAttribute('name') || el.textContent.trim().slice(0, 40),
    focusVisible: el.matches(':focus-visible'),
    outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0,
    shadow: s.boxShadow !== 'none',
  };
}"""


def assert_focus_visible(page: Page) -> dict[str, Any]:
    """Something is focused, the browser counts it as ``:focus-visible``, and it draws an
    outline or a shadow. What is focused (tag and name), for the test's own checks."""
    focused: dict[str, Any] | None = page.evaluate(FOCUS_STYLE)
    assert focused is not None, "nothing has the keyboard focus"
    assert focused["focusVisible"], f"focus is not :focus-visible on {focused}"
    assert focused["outline"] or focused["shadow"], f"no visible focus indicator on {focused}"
    return focused


if __name__ == "__main__":
    print(versions())
