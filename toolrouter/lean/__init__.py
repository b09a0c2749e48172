"""The lean path: ``/mcp``'s and the virtual servers' hot requests answered without the SDK's per-request
session machinery (see :mod:`toolrouter.lean.asgi` for what it takes and why).

- :mod:`~toolrouter.lean.admission`: whether a request is on the happy path (the envelope, the body, the
  SDK's own checks), without answering anything;
- :mod:`~toolrouter.lean.context`: what a handler reads of a request and its session, the session's idle clock;
- :mod:`~toolrouter.lean.shaping`: a result's wire form by the SDK's rules, and the kept dumps of tool lists;
- :mod:`~toolrouter.lean.asgi`: :class:`LeanMcp`, the ASGI layer that ties them together.
"""

from toolrouter.lean.asgi import LeanMcp

__all__ = ["LeanMcp"]
