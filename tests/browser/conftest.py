"""Fixtures for the portal's browser tests: Debian's Chromium driven by Playwright (one browser per test
module), axe-core from the Node test tools, and screenshots.

Chromium and axe-core are skipped locally when missing and fail under ``CI=true``, like the other
backend fixtures (tests/backends.py): CI must run these tests, never skip them silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import REPO, node_tools_dir

CHROMIUM = Path(os.environ.get("MCPGW_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = REPO / "docs" / "images"
DESKTOP = {"width": 1280, "height": 900}


def missing(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        missing(f"{CHROMIUM} is missing: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is missing: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def axe_script() -> str:
    path = node_tools_dir() / "node_modules" / "axe-core" / "axe.min.js"
    if not path.exists():
        missing("axe-core is missing: run scripts/install-node-tools.sh")
    return path.read_text()


class Screenshots:
    """Saves full-page screenshots under the test's tmp directory, and into docs/images when
    ``MCPGW_UPDATE_SCREENSHOTS=1`` (``make screenshots``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.update_docs = os.environ.get("MCPGW_UPDATE_SCREENSHOTS") == "1"

    def take(self, page: Any, name: str, full_page: bool = False) -> Path:
        path = self.directory / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        if self.update_docs:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            (SCREENSHOTS / f"{name}.png").write_bytes(path.read_bytes())
        return path


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Screenshots:
    return Screenshots(tmp_path_factory.mktemp("screenshots"))


def serious_violations(page: Any, axe_source: str) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now (WCAG 2 A and AA rules)."""
    page.evaluate(axe_source + "\n;true")  # evaluated by the debugger: the page's CSP allows no inline script
    result = page.evaluate(
        """async () => {
            const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'];
            const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                           nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
        }"""
    )
    return [v for v in result if v["impact"] in ("serious", "critical")]
