"""The Python environment a Dockerfile builds, made without a Docker engine.

The project's images use a small set of instructions, and this module follows exactly those, stage by stage:

- ``FROM python:X.Y...``: the base image's Python is a venv of a host interpreter with the same X.Y;
- ``WORKDIR``, ``COPY`` (from the build context, after its ``.dockerignore``, or ``--from`` an earlier stage),
  ``ENV``, ``USER``, ``EXPOSE``, ``ENTRYPOINT``, ``CMD``;
- ``RUN`` lines made of ``&&``-joined ``pip``, ``apt-get``, ``groupadd``/``useradd`` and ``rm`` commands:
  ``pip`` runs with the stage's venv, container paths in its arguments mapped into the stage's filesystem (a
  directory: ``/src`` is ``<stage>/fs/src``); ``apt-get install`` packages must already be on the host, since the
  entrypoint runs the host's copy of them (``tini``, ``node``); users are not created (the test runs as itself).

Anything else raises :class:`UnsupportedDockerfile`, so a Dockerfile change that this emulation cannot follow
fails the smoke test instead of being skipped over. A COPY source that is missing from the build context, or
excluded by its ``.dockerignore``, raises :class:`BuildError`, as ``docker build`` would fail.

Built environments are cached under ``~/.cache/mcp-gateway-tests/image-envs`` (``MCPGW_IMAGE_ENV_CACHE``), keyed
by the Dockerfile, its ignore file, the content of every context file its COPY lines take, the interpreter and
this module: any code change rebuilds the images that contain the code, as ``docker build`` would.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

CACHE_ROOT = Path(os.environ.get("MCPGW_IMAGE_ENV_CACHE", Path.home() / ".cache" / "mcp-gateway-tests" / "image-envs"))
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""PATH of the python images; host tools installed by apt-get (tini, node) are found through it."""
_PYTHON_BASE = re.compile(r"^python:(\d+)\.(\d+)")
_SUPPORTED = {"FROM", "WORKDIR", "COPY", "ENV", "RUN", "USER", "EXPOSE", "ENTRYPOINT", "CMD"}


class UnsupportedDockerfile(Exception):
    """The Dockerfile uses something this emulation does not follow; extend it rather than ignore it."""


class BuildError(Exception):
    """``docker build`` would fail the same way."""


class MissingTool(Exception):
    """The host lacks something the image gets from its base or from apt-get (an interpreter, a package)."""


@dataclass(frozen=True)
class Instruction:
    op: str
    value: str

    def exec_form(self) -> list[str]:
        if self.value.startswith("["):
            return [str(part) for part in json.loads(self.value)]
        return ["/bin/sh", "-c", self.value]


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with line continuations joined and comment lines dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # also inside a continuation, as Docker does
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        op, _, value = (pending + line).partition(" ")
        pending = ""
        instructions.append(Instruction(op.upper(), value.strip()))
    return instructions


# -- .dockerignore --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IgnoreRules:
    """Docker's rules: a path is excluded when it or a parent directory matches; the last match wins."""

    rules: tuple[tuple[bool, re.Pattern[str]], ...] = ()

    @classmethod
    def for_build(cls, dockerfile: Path, context: Path) -> IgnoreRules:
        # BuildKit prefers <Dockerfile>.dockerignore beside the Dockerfile to the context's .dockerignore.
        for candidate in (dockerfile.with_name(dockerfile.name + ".dockerignore"), context / ".dockerignore"):
            if candidate.is_file():
                return cls.parse(candidate.read_text())
        return cls()

    @classmethod
    def parse(cls, text: str) -> IgnoreRules:
        rules = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            include = line.startswith("!")
            pattern = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
            rules.append((include, _pattern_regex(pattern)))
        return cls(tuple(rules))

    @property
    def has_exceptions(self) -> bool:
        return any(include for include, _ in self.rules)

    def excludes(self, relative: str) -> bool:
        parts = relative.split("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        excluded = False
        for include, regex in self.rules:
            if any(regex.match(c) for c in candidates):
                excluded = not include
        return excluded


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        else:
            char = pattern[i]
            out += "[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char)
            i += 1
    return re.compile(out + r"\Z")


def context_files(context: Path, ignore: IgnoreRules, source: str = ".") -> list[Path]:
    """The files under ``source`` (relative to the context) that the build context contains."""
    start = (context / source).resolve()
    if not start.is_relative_to(context.resolve()):
        raise BuildError(f"COPY source {source!r} is outside the build context {context}")
    if start.is_file():
        return [] if ignore.excludes(start.relative_to(context.resolve()).as_posix()) else [start]
    found = []
    for directory, dirs, files in os.walk(start):
        base = Path(directory)
        if not ignore.has_exceptions:  # nothing below an excluded directory can come back: skip it
            dirs[:] = [d for d in dirs if not ignore.excludes((base / d).relative_to(context.resolve()).as_posix())]
        dirs.sort()
        for name in sorted(files):
            path = base / name
            if not ignore.excludes(path.relative_to(context.resolve()).as_posix()):
                found.append(path)
    return found


# -- the build ------------------------------------------------------------------------------------------------


@dataclass
class _Stage:
    name: str | None
    root: Path
    python: str
    workdir: str = "/"
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    exposed: list[int] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    system_packages: list[str] = field(default_factory=list)

    @property
    def fs(self) -> Path:
        return self.root / "fs"

    @property
    def venv(self) -> Path:
        return self.root / "venv"

    def host_path(self, container_path: str) -> Path:
        absolute = container_path if container_path.startswith("/") else f"{self.workdir.rstrip('/')}/{container_path}"
        return self.fs / os.path.normpath(absolute).lstrip("/")


@dataclass(frozen=True)
class ImageEnv:
    """The final stage: its filesystem, its Python (venv) and how the image starts."""

    fs: Path
    venv: Path
    env: dict[str, str]
    workdir: str
    user: str | None
    exposed: list[int]
    entrypoint: list[str]
    cmd: list[str]
    system_packages: list[str]

    @property
    def argv(self) -> list[str]:
        return [*self.entrypoint, *self.cmd]

    @property
    def path(self) -> str:
        return f"{self.venv / 'bin'}:{CONTAINER_PATH}"

    def host_path(self, container_path: str) -> Path:
        return self.fs / os.path.normpath(container_path).lstrip("/")


def build_image_env(dockerfile: Path, context: Path, cache_root: Path = CACHE_ROOT) -> ImageEnv:
    """The image's environment, from the cache when nothing it is built from has changed."""
    instructions = parse_dockerfile(dockerfile.read_text())
    ignore = IgnoreRules.for_build(dockerfile, context)
    python = _base_python(instructions)
    slug = re.sub(r"[^a-z0-9]+", "-", f"{dockerfile.parent.name}-{dockerfile.name}".lower()).strip("-")
    target = cache_root / f"{slug}-{_build_key(dockerfile, context, ignore, instructions, python)[:16]}"
    cache_root.mkdir(parents=True, exist_ok=True)
    with _locked(cache_root / f"{slug}.lock"):
        manifest = target / "image.json"
        if not manifest.is_file():
            _prune(cache_root, slug)
            _Build(instructions, context, ignore, python, target).run(manifest)
    data = json.loads(manifest.read_text())
    return ImageEnv(fs=target / "final" / "fs", venv=target / "final" / "venv", **data)


def _base_python(instructions: list[Instruction]) -> str:
    bases = [i.value.split()[0] for i in instructions if i.op == "FROM"]
    versions = set()
    for base in bases:
        match = _PYTHON_BASE.match(base)
        if match is None:
            raise UnsupportedDockerfile(f"base image {base!r}: only python:X.Y images are emulated")
        versions.add(f"{match[1]}.{match[2]}")
    if len(versions) != 1:
        raise UnsupportedDockerfile(f"stages on different Python versions: {sorted(versions)}")
    return find_python(versions.pop())


def find_python(version: str) -> str:
    """A host interpreter of ``version`` (X.Y): on PATH, in pyenv's versions, or in /usr/bin."""
    candidates = [shutil.which(f"python{version}")]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += [str(p) for p in sorted(pyenv.glob(f"{version}.*/bin/python{version}"), reverse=True)]
    candidates += [f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:  # a pyenv shim may exist and fail
            return candidate
    raise MissingTool(f"no Python {version} interpreter with venv on this machine (the images' base is {version})")


def _build_key(
    dockerfile: Path, context: Path, ignore: IgnoreRules, instructions: list[Instruction], python: str
) -> str:
    digest = hashlib.sha256()
    version = subprocess.run([python, "-VV"], capture_output=True, text=True, check=True).stdout
    digest.update(version.encode())
    digest.update(Path(__file__).read_bytes())  # a change in how images are emulated rebuilds them
    digest.update(dockerfile.read_bytes())
    digest.update(repr(ignore.rules).encode())
    for instruction in instructions:
        if instruction.op != "COPY" or instruction.value.startswith("--from="):
            continue
        for source in shlex.split(instruction.value)[:-1]:
            for path in context_files(context, ignore, source):
                digest.update(path.relative_to(context.resolve()).as_posix().encode() + b"\0")
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One build per image at a time, across processes (parallel test runs)."""
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prune(cache_root: Path, slug: str) -> None:
    # Older builds of the same image: each is a few hundred MB, and only the newest key is ever used again.
    for stale in cache_root.glob(f"{slug}-*"):
        if stale.is_dir() and re.fullmatch(rf"{re.escape(slug)}-[0-9a-f]{{16}}", stale.name):
            shutil.rmtree(stale)


class _Build:
    def __init__(
        self, instructions: list[Instruction], context: Path, ignore: IgnoreRules, python: str, target: Path
    ) -> None:
        self.instructions = instructions
        self.context = context.resolve()
        self.ignore = ignore
        self.python = python
        self.target = target
        self.stages: list[_Stage] = []

    def run(self, manifest: Path) -> None:
        shutil.rmtree(self.target, ignore_errors=True)  # a build that died half-way
        self.target.mkdir(parents=True)
        for instruction in self.instructions:
            if instruction.op not in _SUPPORTED:
                raise UnsupportedDockerfile(f"{instruction.op} {instruction.value}")
            getattr(self, f"_{instruction.op.lower()}")(instruction)
        final = self.stages[-1]
        for stage in self.stages[:-1]:
            shutil.rmtree(stage.root)  # earlier stages only feed COPY --from
        image = {
            "env": final.env,
            "workdir": final.workdir,
            "user": final.user,
            "exposed": final.exposed,
            "entrypoint": final.entrypoint,
            "cmd": final.cmd,
            "system_packages": final.system_packages,
        }
        manifest.write_text(json.dumps(image, indent=2))

    @property
    def stage(self) -> _Stage:
        return self.stages[-1]

    def _from(self, instruction: Instruction) -> None:
        words = instruction.value.split()
        name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
        # Venvs cannot move (their scripts name their own path), so the last stage is built in place.
        last = len(self.stages) == sum(1 for i in self.instructions if i.op == "FROM") - 1
        root = self.target / ("final" if last else f"stage-{len(self.stages)}")
        stage = _Stage(name=name, root=root, python=self.python)
        stage.fs.mkdir(parents=True)
        subprocess.run([self.python, "-m", "venv", str(stage.venv)], check=True)
        self.stages.append(stage)

    def _workdir(self, instruction: Instruction) -> None:
        self.stage.workdir = os.path.normpath(f"{self.stage.workdir}/{instruction.value}")
        self.stage.host_path(self.stage.workdir).mkdir(parents=True, exist_ok=True)

    def _env(self, instruction: Instruction) -> None:
        words = shlex.split(instruction.value)
        if words and "=" not in words[0]:  # legacy form: ENV NAME value
            self.stage.env[words[0]] = " ".join(words[1:])
            return
        for word in words:
            key, _, value = word.partition("=")
            self.stage.env[key] = value

    def _user(self, instruction: Instruction) -> None:
        self.stage.user = instruction.value

    def _expose(self, instruction: Instruction) -> None:
        self.stage.exposed += [int(port.split("/")[0]) for port in instruction.value.split()]

    def _entrypoint(self, instruction: Instruction) -> None:
        self.stage.entrypoint = instruction.exec_form()
        self.stage.cmd = []  # Docker resets CMD when ENTRYPOINT is set after it

    def _cmd(self, instruction: Instruction) -> None:
        self.stage.cmd = instruction.exec_form()

    def _copy(self, instruction: Instruction) -> None:
        words = shlex.split(instruction.value)
        flags = [w for w in words if w.startswith("--")]
        *sources, dest = [w for w in words if not w.startswith("--")]
        origin = None
        for flag in flags:
            if not flag.startswith("--from="):
                raise UnsupportedDockerfile(f"COPY {flag}")
            origin = self._stage_named(flag.removeprefix("--from="))
        into_directory = dest.endswith("/") or len(sources) > 1
        target = self.stage.host_path(dest)
        for source in sources:
            if any(c in source for c in "*?["):
                raise UnsupportedDockerfile(f"COPY with a wildcard: {source}")
            if origin is None:
                self._copy_from_context(source, target, into_directory)
            else:
                self._copy_from_stage(origin, source, target, into_directory)

    def _copy_from_context(self, source: str, target: Path, into_directory: bool) -> None:
        files = context_files(self.context, self.ignore, source)
        if not files:
            raise BuildError(f"COPY {source}: not found in the build context {self.context} (or .dockerignore'd)")
        base = (self.context / source).resolve()
        if base.is_file():
            _copy_file(base, target / base.name if into_directory else target)
            return
        for path in files:  # a directory: its contents go into the destination
            _copy_file(path, target / path.relative_to(base))

    def _copy_from_stage(self, origin: _Stage, source: str, target: Path, into_directory: bool) -> None:
        path = origin.host_path(source)
        if path.is_dir():
            shutil.copytree(path, target, dirs_exist_ok=True)
        elif path.is_file():
            _copy_file(path, target / path.name if into_directory else target)
        else:
            raise BuildError(f"COPY --from={origin.name} {source}: not found in that stage")

    def _stage_named(self, name: str) -> _Stage:
        for index, stage in enumerate(self.stages):
            if name in (stage.name, str(index)):
                return stage
        raise UnsupportedDockerfile(f"COPY --from={name}: not an earlier stage (images are not pulled)")

    def _run(self, instruction: Instruction) -> None:
        if instruction.value.startswith("["):
            raise UnsupportedDockerfile(f"RUN in exec form: {instruction.value}")
        for command in re.split(r"\s*&&\s*", instruction.value):
            words = shlex.split(command)
            if words[:3] == ["python", "-m", "pip"]:
                words = ["pip", *words[3:]]
            handler = {
                "pip": self._pip,
                "pip3": self._pip,
                "apt-get": self._apt_get,
                "rm": self._rm,
                "groupadd": _no_op,
                "useradd": _no_op,
            }.get(words[0])
            if handler is None:
                raise UnsupportedDockerfile(f"RUN {command}")
            handler(words[1:])

    def _pip(self, args: list[str]) -> None:
        # The pip cache only makes repeated builds fast; it does not change what gets installed.
        mapped = [self._map_path_argument(a) for a in args if a != "--no-cache-dir"]
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PIP_NO_CACHE_DIR")}
        env |= {k: v for k, v in self.stage.env.items() if k != "PIP_NO_CACHE_DIR"}
        command = [str(self.stage.venv / "bin" / "python"), "-m", "pip", *mapped]
        result = subprocess.run(
            command, cwd=self.stage.host_path(self.stage.workdir), env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise BuildError(f"RUN pip {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")

    def _map_path_argument(self, arg: str) -> str:
        if arg.startswith("/"):
            return str(self.stage.host_path(arg))
        option, equals, value = arg.partition("=")
        if option.startswith("--") and equals and value.startswith("/"):
            return f"{option}={self.stage.host_path(value)}"
        return arg

    def _apt_get(self, args: list[str]) -> None:
        if args[:1] == ["update"]:
            return
        if args[:1] != ["install"]:
            raise UnsupportedDockerfile(f"apt-get {' '.join(args)}")
        packages = [a for a in args[1:] if not a.startswith("-")]
        missing = [p for p in packages if not _host_has_package(p)]
        if missing:
            raise MissingTool(f"the image installs {missing} with apt-get: apt-get install -y {' '.join(missing)}")
        self.stage.system_packages += packages

    def _rm(self, args: list[str]) -> None:
        for pattern in (a for a in args if not a.startswith("-")):
            for match in glob.glob(str(self.stage.host_path(pattern))):
                path = Path(match)
                if not path.resolve().is_relative_to(self.stage.fs.resolve()):
                    raise BuildError(f"rm {pattern}: outside the image")  # never touch the host
                shutil.rmtree(path) if path.is_dir() else path.unlink()


def _no_op(_: list[str]) -> None:
    """Users and groups: the emulated image runs as the test's own user."""


def _copy_file(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)


def _host_has_package(package: str) -> bool:
    """Installed from Debian, or its command is on PATH (Node's npm often comes inside the nodejs package)."""
    status = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
    ).stdout
    return status.endswith("install ok installed") or shutil.which(package, path=CONTAINER_PATH) is not None
