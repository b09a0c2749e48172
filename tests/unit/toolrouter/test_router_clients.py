"""The tool router's HTTP clients, one per role, live exactly as long as the app's lifespan."""

from __future__ import annotations

from toolrouter import ToolRouterSettings, create_router_app
from toolrouter.executor import ToolExecutor


async def test_the_catalog_client_and_the_tool_pools_open_and_close_with_the_lifespan() -> None:
    # Nothing listens on port 1: the first poll fails at once and the router serves an empty catalog.
    app = create_router_app(ToolRouterSettings(catalog_url="http://127.0.0.1:1/internal/tool-catalog"))
    poller = app.state.catalog
    executor: ToolExecutor = app.state.executor
    assert poller.http is None
    async with app.router.lifespan_context(app):
        catalog_http = poller.http
        assert catalog_http is not None and not catalog_http.is_closed
        pools = [executor._session, executor._guarded_session]
        assert all(pool is not None and not pool.closed for pool in pools)
    assert catalog_http.is_closed and poller.http is None
    assert all(pool is not None and pool.closed for pool in pools)
    assert executor._session is None and executor._guarded_session is None
