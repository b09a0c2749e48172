"""The REST client: one ``httpx.Client`` with the caller's identity, and errors turned into :class:`CliError`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx

from gateway import __version__
from gateway.cli import tokens
from gateway.cli.connection import Connection
from gateway.cli.errors import ApiError, CliError, ExitCode, problem_message

USER_AGENT = f"mcp-gateway-cli/{__version__}"


class GatewayClient:
    """Requests to one gateway as one caller: a cached token when logged in, else ``X-Dev-*`` headers."""

    def __init__(self, connection: Connection, timeout: float = 30.0) -> None:
        self.connection = connection
        self.http = httpx.Client(
            base_url=connection.gateway, timeout=timeout, headers={"User-Agent": USER_AGENT}, follow_redirects=False
        )
        self._token: str | None = None
        self._token_loaded = False

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def identity_headers(self) -> dict[str, str]:
        """The headers that say who the caller is, for REST and MCP requests alike."""
        if not self._token_loaded:
            self._token = tokens.access_token(self.connection.gateway, self.http)
            self._token_loaded = True
        if self._token is not None:
            return {"Authorization": f"Bearer {self._token}"}
        return self.connection.dev_headers()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send; raise :class:`ApiError` for an error status and :class:`CliError` when there is no answer."""
        headers = {**self.identity_headers(), **kwargs.pop("headers", {})}
        try:
            response = self.http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        if response.status_code >= 400:
            raise self._api_error(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        return response.json() if response.content else None

    def stream_events(self, path: str, params: dict[str, Any]) -> Iterator[tuple[str, str]]:
        """Server-sent events of ``path`` as ``(event, data)``; ``data`` joins the event's ``data:`` lines."""
        headers = {**self.identity_headers(), "Accept": "text/event-stream"}
        try:
            # No read timeout: a quiet replica may log nothing for a long time (keep-alives come every 15 s).
            timeout = httpx.Timeout(30, read=None)
            with self.http.stream("GET", path, params=params, headers=headers, timeout=timeout) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._api_error(response)
                yield from _parse_sse(response.iter_lines())
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None

    def _unreachable(self, exc: httpx.HTTPError) -> CliError:
        reason = str(exc) or type(exc).__name__
        return CliError(f"cannot reach the gateway at {self.connection.gateway}: {reason}", ExitCode.UNREACHABLE)

    def _api_error(self, response: httpx.Response) -> ApiError:
        try:
            body = response.json()
        except ValueError:
            body = None
        message = problem_message(response.status_code, body, response.text)
        if response.status_code == 401:
            message += self._login_hint()
        return ApiError(response.status_code, message, body)

    def _login_hint(self) -> str:
        if self._token is not None:
            return " (the gateway refused the cached token: run mcp-gateway login)"
        return " (the gateway wants a token: run mcp-gateway login)"


def resource_path(kind: str, name: str | None = None, *rest: str) -> str:
    parts = [kind] + ([quote(name, safe="")] if name is not None else []) + list(rest)
    return "/" + "/".join(parts)


def _parse_sse(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    event, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", list[str]()
        elif line.startswith(":"):
            continue  # keep-alive comment
        else:
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if key == "data":
                data.append(value)
            elif key == "event":
                event = value
    if data:
        yield event, "\n".join(data)
