"""The portal in a real browser against a real gateway (development authentication, local runtime): create
an adapter from the form and watch it become Ready, follow its logs, call its tools in the console (result,
progress, logs, an image, an error, an elicitation in both protocol eras), see a validation error at its
field, see nothing of another user's adapter, and pass axe-core's accessibility rules.

One browser and one gateway serve the whole module; the tests run in file order and build on each other
(the adapter created first is used by the later ones), which keeps the module's time low.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser.conftest import DESKTOP, Screenshots, serious_violations
from tests.support.gateway_process import GatewayProcess
from tests.support.paths import PYTHON, REPO

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SERVER = REPO / "tests" / "browser" / "portal_mcp_server.py"
ADAPTER = "calc"
READY_TIMEOUT_MS = 45_000


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    process = GatewayProcess(tmp_path_factory.mktemp("portal") / "gw").start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def page(browser: Any, gateway: GatewayProcess) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP, base_url=gateway.url, color_scheme="light")
    context.set_default_timeout(15_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    # Script errors only: the browser also logs each 4xx answer (the tests provoke 400 and 403 on purpose).
    tab.on("console", lambda message: errors.append(message.text)
           if message.type == "error" and not message.text.startswith("Failed to load resource") else None)
    tab.errors = errors
    yield tab
    context.close()


def connected(page: Any) -> Any:
    """The console's status once the connection settled; fails with the console's own words if it could not.

    Connecting is a discovery (or handshake) and three lists through the gateway to the adapter's process: on a
    CI machine running the rest of the suite alongside, that has taken longer than a click's 15 s."""
    status = page.get_by_test_id("console-status")
    settled = status.filter(has_text=re.compile(r"^(Connected|Could not connect)"))
    settled.wait_for(timeout=READY_TIMEOUT_MS)
    assert status.inner_text().startswith("Connected"), status.inner_text()
    return status


def as_user(page: Any, user: str, roles: str = "mcp.dev") -> None:
    page.get_by_role("button", name="Switch identity").click()
    dialog = page.get_by_role("dialog", name="Development identity")
    dialog.get_by_label("User id").fill(user)
    dialog.get_by_label("Roles").fill(roles)
    dialog.get_by_role("button", name="Use this identity").click()
    page.get_by_test_id("identity-name").filter(has_text=user).wait_for()


def test_the_root_redirects_to_the_portal_and_it_loads_without_errors(page: Any, gateway: GatewayProcess) -> None:
    page.goto("/")
    page.wait_for_url(re.compile(r"/portal/adapters$"))
    page.get_by_role("heading", name="Adapters", level=1).wait_for()
    page.get_by_text("No adapters you may read yet.").wait_for()
    assert page.errors == []


def test_an_adapter_created_from_the_form_becomes_ready(page: Any, screenshots: Screenshots) -> None:
    as_user(page, "alice")
    page.get_by_role("link", name="New adapter").click()
    page.get_by_label("Name", exact=True).fill(ADAPTER)
    page.get_by_label("Description", exact=True).fill("Adds, counts and asks: the portal's test server")
    page.get_by_label("Command", exact=True).fill(PYTHON)
    page.get_by_label("Arguments", exact=True).fill(str(SERVER))
    page.get_by_label("Transport", exact=True).select_option("streamable-http")
    screenshots.take(page, "portal-create-adapter")
    page.get_by_role("button", name="Create adapter").click()

    page.wait_for_url(re.compile(rf"/portal/adapters/{ADAPTER}$"))
    page.get_by_test_id("detail-phase").filter(has_text="Ready").wait_for(timeout=READY_TIMEOUT_MS)
    assert page.get_by_test_id("endpoint-url").inner_text().endswith(f"/adapters/{ADAPTER}/mcp")

    page.get_by_role("link", name="Adapters", exact=True).first.click()
    row = page.locator(f"tr[data-name='{ADAPTER}']")
    row.get_by_test_id(f"phase-{ADAPTER}").filter(has_text="Ready").wait_for()
    assert "alice" in row.inner_text()
    screenshots.take(page, "portal-adapters")


def test_the_logs_follow_the_replica_live(page: Any, gateway: GatewayProcess, screenshots: Screenshots) -> None:
    page.goto(f"/portal/adapters/{ADAPTER}")
    logs = page.get_by_test_id("logs")
    page.get_by_text("Following: new lines appear").wait_for()
    logs.filter(has_text="portal test server starting").wait_for()

    # A call made elsewhere (a stateless MCP request as alice) writes a line; the open page shows it.
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "add", "arguments": {"a": 20, "b": 22},
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                  "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
                  "io.modelcontextprotocol/clientCapabilities": {}}}}
    headers = {"X-Dev-UserId": "alice", "Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "add"}
    answer = httpx.post(f"{gateway.url}/adapters/{ADAPTER}/mcp", json=call, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    logs.filter(has_text="add called with a=20, b=22").wait_for()
    page.get_by_test_id("detail-phase").filter(has_text="Ready").wait_for()
    screenshots.take(page, "portal-adapter-detail", full_page=True)


@pytest.mark.parametrize("era", ["2025-11-25", "2026-07-28"])
def test_the_console_calls_a_tool_and_shows_progress_and_the_result(page: Any, era: str,
                                                                    screenshots: Screenshots) -> None:
    page.goto(f"/portal/console?target=/adapters/{ADAPTER}/mcp")
    page.get_by_label("Protocol").select_option(era)
    page.get_by_role("button", name="Connect", exact=True).click()
    status = connected(page)
    assert "Portal Test Server" in status.inner_text()
    assert ("with a session" if era == "2025-11-25" else "stateless") in status.inner_text()

    page.get_by_label("Tool", exact=True).select_option("count")
    page.get_by_label("steps").fill("3")
    page.get_by_role("button", name="Call tool").click()
    activity = page.get_by_test_id("activity")
    # Progress arrives while the tool still works (0.3 s per step), before the result.
    activity.filter(has_text="1 of 3: step 1").wait_for()
    assert page.get_by_test_id("tool-result").count() == 0
    page.get_by_test_id("tool-result").filter(has_text="counted to 3").wait_for()
    assert page.get_by_test_id("progress-text").inner_text() == "3 of 3: step 3"
    assert "counted 2" in activity.inner_text()  # log notifications, as they came
    if era == "2026-07-28":
        screenshots.take(page, "portal-console")

    # An elicitation: the generated form, answered in the dialog, reaches the tool.
    page.get_by_label("Tool", exact=True).select_option("pick_color")
    page.get_by_role("button", name="Call tool").click()
    dialog = page.get_by_test_id("elicitation")
    dialog.get_by_text("Which colour do you like?").wait_for()
    dialog.get_by_label("color").select_option(label="green")
    assert dialog.get_by_label("shade").input_value() == "plain"  # the schema's default
    dialog.get_by_role("button", name="Send").click()
    page.get_by_test_id("tool-result").filter(has_text="You picked green (plain)").wait_for()

    # An image and an error result.
    page.get_by_label("Tool", exact=True).select_option("picture")
    page.get_by_role("button", name="Call tool").click()
    page.get_by_test_id("tool-result").get_by_role("img").wait_for()
    page.get_by_label("Tool", exact=True).select_option("fail")
    page.get_by_role("button", name="Call tool").click()
    page.get_by_test_id("tool-error").wait_for()
    page.get_by_role("button", name="Disconnect").click()


def test_a_required_argument_is_asked_for_before_the_call(page: Any) -> None:
    page.goto(f"/portal/console?target=/adapters/{ADAPTER}/mcp")
    page.get_by_role("button", name="Connect", exact=True).click()
    connected(page)
    page.get_by_label("Tool", exact=True).select_option("add")
    page.get_by_label("b", exact=True).fill("2")
    page.get_by_role("button", name="Call tool").click()
    a = page.get_by_label("a", exact=True)
    assert a.get_attribute("aria-invalid") == "true"
    assert page.locator(f"#{a.get_attribute('id')}-error").inner_text() == "a is required"


def test_a_validation_error_is_shown_at_its_field(page: Any, screenshots: Screenshots) -> None:
    page.goto("/portal/adapters/new")
    page.get_by_label("Name", exact=True).fill("Not_A_Name")
    page.get_by_label("Command", exact=True).fill(PYTHON)
    page.get_by_label("Replicas", exact=True).fill("99")
    page.get_by_role("button", name="Create adapter").click()

    summary = page.get_by_role("alert").filter(has_text="Please correct")
    summary.wait_for()
    name = page.get_by_label("Name", exact=True)
    replicas = page.get_by_label("Replicas", exact=True)
    assert name.get_attribute("aria-invalid") == "true"
    assert replicas.get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Command", exact=True).get_attribute("aria-invalid") is None
    assert "lowercase letters" in page.locator("#field-name-error").inner_text()
    assert "50" in page.locator("#field-replicaCount-error").inner_text()
    screenshots.take(page, "portal-validation")


def test_another_user_sees_nothing_of_it(page: Any) -> None:
    page.goto("/portal/adapters")
    as_user(page, "bob", "mcp.user")
    page.get_by_text("No adapters you may read yet.").wait_for()
    page.goto(f"/portal/adapters/{ADAPTER}")
    page.get_by_role("alert").filter(has_text="Not permitted").wait_for()
    page.goto("/portal/console")
    assert page.get_by_label("Endpoint").locator("option", has_text=ADAPTER).count() == 0
    as_user(page, "alice")


PAGES = {
    "adapters": "/portal/adapters",
    "detail": f"/portal/adapters/{ADAPTER}",
    "form": f"/portal/adapters/{ADAPTER}/edit",
    "console": f"/portal/console?target=/adapters/{ADAPTER}/mcp",
    "tools": "/portal/tools",
}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_main_pages_have_no_serious_accessibility_violations(page: Any, axe_script: str, scheme: str,
                                                                 screenshots: Screenshots) -> None:
    page.emulate_media(color_scheme=scheme)
    found = {}
    for name, path in PAGES.items():
        page.goto(path)
        page.locator("main h1").first.wait_for()
        if name == "console":
            page.get_by_role("button", name="Connect", exact=True).click()
            connected(page)
        if name == "detail":
            page.get_by_test_id("detail-phase").wait_for()
        violations = serious_violations(page, axe_script)
        if violations:
            found[name] = violations
    if scheme == "dark":
        page.goto(f"/portal/adapters/{ADAPTER}")
        page.get_by_test_id("detail-phase").filter(has_text="Ready").wait_for()
        screenshots.take(page, "portal-adapter-detail-dark")
    page.emulate_media(color_scheme="light")
    assert found == {}


def test_a_narrow_window_needs_no_sideways_scrolling(page: Any) -> None:
    page.set_viewport_size({"width": 380, "height": 800})
    try:
        for path in PAGES.values():
            page.goto(path)
            page.locator("main h1").first.wait_for()
            wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > 381)
                .slice(0, 5).map(e => `${e.tagName}.${e.className}`)""")
            width = page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 380, f"{path} is {width}px wide: {wide}"
    finally:
        page.set_viewport_size(DESKTOP)


def test_keyboard_alone_reaches_the_navigation_and_the_delete_confirmation(page: Any) -> None:
    page.goto(f"/portal/adapters/{ADAPTER}")
    page.get_by_test_id("detail-phase").wait_for()
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Skip to the content"
    page.get_by_role("button", name="Delete").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name=f"Delete adapter {ADAPTER}?")
    dialog.wait_for()
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")


def test_delete_asks_for_confirmation_and_removes_the_adapter(page: Any, gateway: GatewayProcess) -> None:
    page.goto(f"/portal/adapters/{ADAPTER}")
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    page.wait_for_url(re.compile(r"/portal/adapters$"))
    page.get_by_text("No adapters you may read yet.").wait_for()
    with gateway.client("alice") as client:
        assert client.get(f"/adapters/{ADAPTER}").status_code == 404
    assert page.errors == [], page.errors


