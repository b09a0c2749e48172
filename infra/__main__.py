"""Pulumi entry point: composition only (see infra/stack.py)."""

import sys
from pathlib import Path

# Pulumi runs this file with cwd = infra/ and only infra/ on sys.path; the program imports
# ``infra.*`` and ``gateway.runtimes.kubernetes.rbac`` from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.config import load_config
from infra.stack import build, export

export(build(load_config()))
