"""Run ``@modelcontextprotocol/conformance`` (server mode) against any MCP URL and parse its results.

    from tests.conformance.run_conformance import run_conformance, node_tools
    result = run_conformance("http://127.0.0.1:3101/mcp", ["--suite", "all"], tmp_path / "direct")
    assert result.failed_scenarios == set()

The same call pointed at the gateway (in front of the fixture) must produce the same scenario verdicts;
compare ``result.verdicts`` of both runs. Also runnable as a script:

    python tests/conformance/run_conformance.py URL [--alpha] [--results DIR] [-- SUITE ARGS...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO / "scripts" / "install-node-tools.sh"
EXPECTED_FAILURES = Path(__file__).with_name("expected-failures.yml")
_RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")


@dataclass(frozen=True)
class NodeTools:
    """Where scripts/install-node-tools.sh put Node 22 and the harnesses."""

    root: Path

    @property
    def bin_dir(self) -> Path:
        return self.root / "node_modules" / ".bin"

    @property
    def node(self) -> Path:
        return self.bin_dir / "node"

    def harness(self, alpha: bool = False) -> Path:
        """The conformance entry script: 0.1.16, or 0.2.0-alpha.12 (installed as ``conformance-alpha``)."""
        package = "conformance-alpha" if alpha else "@modelcontextprotocol/conformance"
        return self.root / "node_modules" / package / "dist" / "index.js"

    @property
    def inspector(self) -> Path:
        return self.bin_dir / "mcp-inspector"

    def env(self) -> dict[str, str]:
        """The environment with Node 22 first on PATH (the harness needs ``fs.globSync``)."""
        return {**os.environ, "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def node_tools() -> NodeTools:
    """Install (idempotent, pinned) or locate the Node test tools; raises if npm is unavailable."""
    if shutil.which("npm") is None and not (REPO / ".cache" / "node-tools" / "node_modules").is_dir():
        raise RuntimeError("npm is not installed, so the Node test tools cannot be installed")
    done = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/install-node-tools.sh failed:\n{done.stderr}")
    return NodeTools(Path(done.stdout.strip().splitlines()[-1]))


@dataclass(frozen=True)
class ScenarioResult:
    """One scenario's checks: WARNING and INFO do not fail a scenario, as in the harness."""

    name: str
    passed: int
    failed: int
    warnings: int
    failures: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.failed == 0


@dataclass(frozen=True)
class ConformanceResult:
    """A parsed harness run; ``verdicts`` is what two runs (direct, through the gateway) compare."""

    returncode: int
    scenarios: dict[str, ScenarioResult]
    output: str = field(repr=False)

    @property
    def verdicts(self) -> dict[str, bool]:
        return {name: s.ok for name, s in self.scenarios.items()}

    @property
    def passed_scenarios(self) -> set[str]:
        return {name for name, s in self.scenarios.items() if s.ok}

    @property
    def failed_scenarios(self) -> set[str]:
        return {name for name, s in self.scenarios.items() if not s.ok}

    @property
    def checks(self) -> tuple[int, int]:
        """(passed, failed) checks over all scenarios."""
        return (sum(s.passed for s in self.scenarios.values()), sum(s.failed for s in self.scenarios.values()))

    def describe_failures(self) -> str:
        lines = [f"{s.name}: {m}" for s in self.scenarios.values() for m in s.failures]
        return "\n".join(lines) or "(no failed checks)"


def run_conformance(
    url: str, suite_args: list[str], results_dir: Path, *,
    alpha: bool = False, tools: NodeTools | None = None, timeout: float = 900,
) -> ConformanceResult:
    """Run ``conformance server --url URL SUITE_ARGS -o RESULTS_DIR`` and parse every checks.json.

    ``suite_args`` are passed through (``["--suite", "all"]``, ``["--scenario", "ping"]``,
    ``["--spec-version", "2026-07-28"]`` with ``alpha=True``). ``results_dir`` is emptied first so a run
    never reads an earlier run's files.
    """
    tools = tools or node_tools()
    if results_dir.exists():
        shutil.rmtree(results_dir)
    results_dir.mkdir(parents=True)
    command = [str(tools.node), str(tools.harness(alpha)), "server", "--url", url, *suite_args,
               "-o", str(results_dir)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=tools.env(),
                          cwd=results_dir, check=False)
    scenarios = parse_results(results_dir)
    if not scenarios:
        raise RuntimeError(f"the harness produced no results (rc={done.returncode}):\n{done.stdout}\n{done.stderr}")
    return ConformanceResult(done.returncode, scenarios, done.stdout + done.stderr)


def parse_results(results_dir: Path) -> dict[str, ScenarioResult]:
    """Read ``server-<scenario>-<timestamp>/checks.json`` files into per-scenario results."""
    scenarios: dict[str, ScenarioResult] = {}
    for checks_file in sorted(results_dir.glob("*/checks.json")):
        match = _RESULT_DIR.match(checks_file.parent.name)
        name = match["scenario"] if match else checks_file.parent.name
        checks = json.loads(checks_file.read_text())
        failures = tuple(f"{c.get('id')}: {c.get('errorMessage', '')}" for c in checks if c.get("status") == "FAILURE")
        scenarios[name] = ScenarioResult(
            name=name,
            passed=sum(1 for c in checks if c.get("status") == "SUCCESS"),
            failed=len(failures),
            warnings=sum(1 for c in checks if c.get("status") == "WARNING"),
            failures=failures,
        )
    return scenarios


def expected_failures(leg: str, path: Path = EXPECTED_FAILURES) -> dict[str, str]:
    """The scenarios allowed to fail in ``leg`` (a key of expected-failures.yml), with the reason."""
    import yaml  # PyYAML comes with uvicorn[standard]; imported late so the module loads without it

    data = yaml.safe_load(path.read_text()) or {}
    return {str(k): str(v) for k, v in (data.get(leg) or {}).items()}


def assert_matches_expected_failures(result: ConformanceResult, leg: str, where: str) -> None:
    """Fail unless ``result`` failed exactly the scenarios expected-failures.yml lists for ``leg``."""
    allowed = set(expected_failures(leg))
    unexpected = result.failed_scenarios - allowed
    stale = allowed - result.failed_scenarios
    assert not unexpected, f"unexpected failures {where} in {leg}:\n{result.describe_failures()}"
    assert not stale, f"{leg}: these pass {where}; remove them from expected-failures.yml: {sorted(stale)}"
    assert len(result.scenarios) >= 30, "the harness did not really run the suite"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the MCP conformance suite against URL.")
    parser.add_argument("url")
    parser.add_argument("--alpha", action="store_true", help="use 0.2.0-alpha.12 instead of 0.1.16")
    parser.add_argument("--results", type=Path, default=Path("conformance-results"))
    argv = sys.argv[1:] if argv is None else argv
    ours, suite_args = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    args = parser.parse_args(ours)
    result = run_conformance(args.url, suite_args, args.results, alpha=args.alpha)
    for name, scenario in sorted(result.scenarios.items()):
        print(f"{'PASS' if scenario.ok else 'FAIL'} {name}: {scenario.passed} passed, {scenario.failed} failed")
    passed, failed = result.checks
    print(f"scenarios: {len(result.passed_scenarios)} passed, {len(result.failed_scenarios)} failed; "
          f"checks: {passed} passed, {failed} failed")
    return 0 if not result.failed_scenarios else 1


if __name__ == "__main__":
    sys.exit(main())
