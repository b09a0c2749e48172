"""The documentation convention (tests/docs/blocks.py) and the documents' use of it; fast, no processes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs.blocks import DocsSyntaxError, check_output, matches, parse_shown, read_blocks, split_commands
from tests.support.paths import REPO

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
COMMAND_LIKE = re.compile(r"^\s*(\$ )?(curl|make|npx|npm|node|python3?|\.venv/|pip|docker|kubectl|az|pulumi|bash)\b")


def test_blocks_run_unless_marked_skip_with_a_reason(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "```sh\ncurl -s localhost:8000/ping\n```\n\n"
        "<!-- docs-test: skip needs a cluster -->\n\n```bash\nkubectl get pods\n```\n"
        "```json\n{}\n```\n```\nplain\n```\n"
    )
    blocks = read_blocks(doc)
    assert [(b.line, b.language, b.runs, b.skip_reason) for b in blocks] == [
        (1, "sh", True, None),
        (7, "bash", False, "needs a cluster"),
        (10, "json", False, None),
        (13, "", False, None),
    ]
    # Inside a list item: indented fence and marker, and the text without the fence's indentation.
    doc.write_text("1. Deploy:\n   <!-- docs-test: skip Azure -->\n   ```bash\n   pulumi up \\\n     --yes\n   ```\n")
    [indented] = read_blocks(doc)
    assert (indented.line, indented.skip_reason, indented.text) == (3, "Azure", "pulumi up \\\n  --yes")
    doc.write_text("<!-- docs-test: skip -->\n```sh\nls\n```\n")
    with pytest.raises(DocsSyntaxError, match="must say why"):
        read_blocks(doc)


def test_commands_are_split_where_the_shell_would_and_keep_their_shown_output() -> None:
    block = """H='-H Content-Type:application/json'
# Adapters
curl -s -X POST localhost:8000/adapters $H -d '{"name":"a",
  "command":"python3"}'
                                  # 201, Location: /adapters/a
                                  # {"name":"a",...}
curl -s localhost:8000/adapters/a/status   # {"readyReplicas":1,
                                           #  "replicaStatus":"Healthy",...} (within seconds)
npx -y inspector --cli http://localhost:8000/mcp \\
    --tool-arg location="Seattle, WA"  # not shown: prose
curl -s "localhost:8000/x#y" |   # {"prose": "on a line that goes on"}
  cat"""
    commands = split_commands(block, first_line=10, where="doc.md:9")
    assert [(c.line, c.expected) for c in commands] == [
        (10, None),
        (12, '{"name":"a",...}'),
        (16, '{"readyReplicas":1, "replicaStatus":"Healthy",...}'),
        (18, None),
        (20, None),
    ]
    assert commands[1].text.endswith('"command":"python3"}\'')


@pytest.mark.parametrize(
    "broken, message",
    [
        ("curl 'unterminated\n", "never ends"),
        ('# {"a": 1}\ncurl x\n', "before any command"),
        ('curl x  # {"a":\ncurl y\n', "should go on"),
    ],
)
def test_broken_blocks_are_reported(broken: str, message: str) -> None:
    with pytest.raises(DocsSyntaxError, match=message):
        split_commands(broken, first_line=1, where="doc.md:1")


@pytest.mark.parametrize(
    "shown, actual, expected",
    [
        ('{"ready":2,...,"replicaStatus":"Healthy"}', {"ready": 2, "x": 1, "replicaStatus": "Healthy"}, True),
        ('{"ready":2,...,"replicaStatus":"Healthy"}', {"ready": 0, "replicaStatus": "Healthy"}, False),
        ('{"status":"alive"}', {"status": "alive", "extra": 1}, False),  # without "..." objects are exact
        ('{"status":"alive"}', {"status": "alive"}, True),
        ('[{"name":"calc",...}]', [{"name": "calc", "id": "calc"}], True),
        ('[{"name":"calc",...}]', [{"name": "calc"}, {"name": "other"}], False),
        ('{"tools":[...]}', {"tools": [{"name": "weather"}]}, True),
        ('[..., {"n":2}, ...]', [{"n": 1}, {"n": 2}, {"n": 3}], True),
        ('{"image":"python3 sample-servers/..."}', {"image": "python3 sample-servers/x/main.py"}, True),
        ('{"image":"python3 sample-servers/..."}', {"image": "node x"}, False),
        ('{"temperature":72.0,"ok":true}', {"temperature": 72, "ok": True}, True),
        ('{"ok":true}', {"ok": 1}, False),
        ('{"n":1}', {"n": True}, False),
    ],
)
def test_shown_outputs_match_with_ellipses(shown: str, actual: object, expected: bool) -> None:
    assert matches(parse_shown(shown), actual) is expected


def test_outputs_are_found_in_http_bodies_and_event_streams() -> None:
    response = 'HTTP/1.1 200 OK\r\nmcp-session-id: abc\r\n\r\nevent: message\r\ndata: {"id":1,"result":{"a":1}}\r\n'
    assert check_output('{"id":1,"result":{...}}', response).ok
    assert not check_output('{"id":2,...}', response).ok


def test_an_output_not_shown_must_not_be_an_error() -> None:
    assert check_output(None, "").ok
    assert check_output(None, "MCP Example Server listening on http://127.0.0.1:1/mcp").ok
    assert not check_output(None, '{"type":"about:blank","title":"Forbidden","status":403}').ok
    assert not check_output(None, '{"jsonrpc":"2.0","id":1,"error":{"code":-32602}}').ok
    assert not check_output(None, '{"content":[],"isError":true}').ok


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.relative_to(REPO).as_posix())
def test_every_block_of_the_documentation_follows_the_convention(path: Path) -> None:
    for block in read_blocks(path):
        if block.runs:
            for command in block.commands():
                if command.expected is not None:
                    parse_shown(command.expected)
        elif block.language == "":
            # A command in an unlabelled block would escape the test: label it sh (and skip it if need be).
            first = next((line for line in block.text.splitlines() if line.strip()), "")
            assert not COMMAND_LIKE.match(first), f"{block.where}: label this shell example ```sh"


def test_the_quickstart_runs() -> None:
    """The examples a newcomer runs first are never skipped, so the runner cannot pass by running nothing."""
    readme = read_blocks(REPO / "README.md")
    running = "\n".join(block.text for block in readme if block.runs)
    for example in ("/adapters/mcp-example/status", "--tool-name add", "--tool-name weather", "initialize"):
        assert example in running
