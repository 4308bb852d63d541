"""A real browser for the tests that look at a page as a person would: Debian's Chromium, headless,
driven by Playwright (the Python package, as a library only: its `playwright install` downloads a
browser of its own, which cannot work without the internet; scripts/test-deps.sh installs the
system's chromium instead).

A missing browser fails the test, never skips it, so CI cannot go green without looking.

    from browser import PHONE, Visit, browser, png_size, visit  # noqa: F401 (the fixtures)
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page, Request

CHROMIUM = Path("/usr/bin/chromium")
# As root, headless, on a machine whose only network is loopback: no sandbox (needs a user
# namespace), no GPU, and none of Chromium's own calls home (each would wait on a refused
# connection). Playwright adds --headless and a new, empty --user-data-dir for every launch.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
PHONE = {"width": 360, "height": 640}  # a common small Android phone, in CSS pixels
SMALLEST_PHONE = {"width": 320, "height": 568}  # iPhone SE (1st generation), the narrowest in use
TAP_TARGET = 44  # CSS px: the least height of something to press with a thumb (Apple's HIG; WCAG 2.5.5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for the module's tests; each test gets its own context (`visit`)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/test-deps.sh as root (it installs Debian's chromium), "
                    "then run the tests again", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the Python package playwright is missing: .venv/bin/pip install -e '.[test]'", pytrace=False)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS, timeout=15_000)
        yield chromium
        chromium.close()


@dataclass
class Visit:
    """A fresh browser profile with one tab, and every request the tab made, in order."""

    page: Page
    requests: list[Request] = field(default_factory=list)

    def resize(self, viewport: dict[str, int]) -> None:
        self.page.set_viewport_size(viewport)  # type: ignore[arg-type]

    def phone_viewport(self) -> bool:
        """Whether the page asks to be laid out at the phone's own width (a viewport meta tag);
        without one a phone lays it out 980 px wide and shrinks it to fit: tiny text."""
        return self.page.evaluate("""() => /width\\s*=\\s*device-width/.test(
            document.querySelector('meta[name=viewport]')?.content ?? '')""")

    def overflow(self, width: int) -> int:
        """CSS px the page is wider than a screen `width` wide (0: nothing cut off or to scroll sideways)."""
        return self.page.evaluate("w => Math.max(0, document.documentElement.scrollWidth - w)", width)

    def scripts(self) -> list[str]:
        """What in the page could run code: script elements, on… handlers, javascript: links."""
        return self.page.evaluate("""() => [...document.querySelectorAll('*')].flatMap(e => [
            ...(e.tagName === 'SCRIPT' ? ['<script>'] : []),
            ...[...e.attributes].filter(a => a.name.startsWith('on') || /^\\s*javascript:/i.test(a.value))
                .map(a => `${e.tagName.toLowerCase()} ${a.name}=${a.value}`)])""")

    def tap_loads_a_page(self, target: Locator, timeout: float = 5_000) -> bool:
        """Tap `target` as a thumb would; whether that loaded a page within `timeout` ms."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            with self.page.expect_navigation(timeout=timeout):
                target.tap()
        except PlaywrightTimeout:
            return False
        return True

    def screenshot(self, path: Path) -> Path:
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture
def visit(browser: Browser) -> Iterator[Visit]:
    """A phone-sized tab (360×640 CSS px, scale 1, touch) in a profile of its own."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, has_touch=True, is_mobile=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    seen = Visit(page)
    page.on("request", lambda request: seen.requests.append(request))
    yield seen
    context.close()


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, from its header; fails for anything that is not a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG file"
    return struct.unpack(">II", data[16:24])
