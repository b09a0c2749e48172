"""Where things are: the repository, the interpreter running the tests, the sample servers, the Node tools."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
MCP_EXAMPLE = REPO / "sample-servers" / "mcp-example" / "src" / "main.py"
TOOL_EXAMPLE = REPO / "sample-servers" / "tool-example" / "src" / "main.py"
SESSION_EXAMPLE = REPO / "sample-servers" / "session-example" / "src" / "main.py"


def node_tools_dir() -> Path:
    """The Node tools directory that scripts/install-node-tools.sh fills (``$MCPGW_NODE_TOOLS`` overrides it)."""
    return Path(os.environ.get("MCPGW_NODE_TOOLS", REPO / ".cache" / "node-tools"))


def node_tools() -> Path:
    """The Node tools directory with the Inspector installed; fail in CI, skip elsewhere, when missing."""
    import pytest

    directory = node_tools_dir()
    if not (directory / "node_modules" / ".bin" / "inspector").exists():
        message = "Node test tools are missing: run scripts/install-node-tools.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return directory
