"""Plugin packages written from the guides (docs/guides/) or by `snnctl plugin new`, installed and used as an
author would: pip installs them (into a folder put on PYTHONPATH, so the test environment stays as it was),
their own tests run under pytest in a fresh process, and the command line finds them through their entry
points (in a fresh process, or in this one with the packages' folder on sys.path: :func:`run_cli`).

A guide holds its package as fenced blocks whose first line names the file, relative to the folder the guide's
commands run in::

    ```python
    # file: snnctl-leaky/snnctl_leaky/__init__.py
    ...
    ```

and its commands as ``bash`` blocks, one command per line (``# exit 2`` after a command: it must fail with
status 2). ``pip install PATH...`` lines install; ``pytest ARGS`` runs the package's tests; ``snnctl ...`` runs
the command line; ``python FILE`` runs a script. Training commands run one epoch on a few recordings here
(:func:`small_training`); everything else is verbatim. ``python`` blocks without a ``# file:`` line run as
scripts in the guide's folder, in order, after the commands before them.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

FILE_BLOCK = re.compile(r"```(?:python|toml)\n# file: (\S+)\n(.*?)```", re.S)
ANY_BLOCK = re.compile(r"```(bash|python|toml)\n(.*?)```", re.S)
#: what the tests append to `snnctl train` where the command does not say it itself
SMALL = {"--epochs": "1", "--batch-size": "8"}
SMALL_DATA = 'data.args={"train_per_class": 2, "test_per_class": 1}'


@dataclass
class Step:
    kind: str  # "pip", "pytest", "snnctl", "python", "script"
    args: list[str]
    expect: int = 0
    source: str = ""  # the line or block, for messages


@dataclass
class Page:
    path: Path
    files: dict[str, str] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)

    @property
    def installs(self) -> list[str]:
        return [a for s in self.steps if s.kind == "pip" for a in s.args]

    def commands(self, first: str) -> list[list[str]]:
        return [s.args for s in self.steps if s.kind == "snnctl" and s.args and s.args[0] == first]


def read_page(path: Path) -> Page:
    """The files and the steps of one guide, in the order they appear."""
    text = path.read_text()
    page = Page(path)
    for name, body in FILE_BLOCK.findall(text):
        assert name not in page.files, f"{path.name}: {name} is given twice"
        page.files[name] = f"# file: {name}\n{body}"
    for lang, body in ANY_BLOCK.findall(text):
        if body.startswith("# file: ") or lang == "toml":
            continue
        if lang == "python":
            page.steps.append(Step("script", [], source=body))
            continue
        for line in filter(str.strip, body.splitlines()):
            command, _, comment = line.partition("#")
            if not command.strip():
                continue
            args = shlex.split(command)
            expect = int(m.group(1)) if (m := re.search(r"exit (\d+)", comment)) else 0
            if args[:2] == ["pip", "install"]:
                assert all(not a.startswith("-") or a == "-e" for a in args[2:]), line
                page.steps.append(Step("pip", [a for a in args[2:] if a != "-e"], source=line))
            elif args[0] in ("pytest", "snnctl", "python"):
                page.steps.append(Step(args[0], args[1:], expect, line))
            else:
                raise AssertionError(f"{path.name}: the tests do not know how to run `{line}`")
    return page


def write_files(page: Page, folder: Path) -> None:
    for name, body in page.files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body)


def install(packages: list[Path], target: Path) -> None:
    """Build and install packages (without their dependencies: snnctl is already here) into ``target``."""
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                        "--disable-pip-version-check", "--no-warn-script-location", "--target", str(target),
                        *map(str, packages)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"pip install failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"


def environment(site: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNNCTL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["SNNCTL_CACHE"] = str(cache)
    env["MPLBACKEND"] = "Agg"
    return env


def small_training(args: list[str]) -> list[str]:
    """`snnctl train ...` as the tests run it: one epoch, small batches, a few recordings of the default data."""
    if not args or args[0] != "train" or "--print-config" in args:
        return args
    extra: list[str] = []
    for option, value in SMALL.items():
        if option not in args:
            extra += [option, value]
    if "--data" not in args and "--recipe" not in args:
        extra += ["--set", SMALL_DATA]
    if "--quiet" not in args:
        extra.append("--quiet")
    return args + extra


def run_cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``snnctl ARGS`` in this process, seeing the installed packages of ``env``'s PYTHONPATH as a fresh
    process would (their entry points, found on sys.path); everything is put back afterwards.

    The same code path as the console script (``snnctl.cli.main``), without a Python start per command.
    """
    import contextlib
    import importlib
    import io

    from snnctl import plugins
    from snnctl.cli import main

    extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p not in sys.path]
    saved_env, saved_cwd, saved_path = dict(os.environ), os.getcwd(), list(sys.path)
    out, err = io.StringIO(), io.StringIO()
    try:
        os.environ.clear()
        os.environ.update(env)
        sys.path[:0] = extra
        importlib.invalidate_caches()
        os.chdir(cwd)
        plugins.reset()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args))
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 0
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.path[:] = saved_path
        importlib.invalidate_caches()
        plugins.reset()
    return subprocess.CompletedProcess(["snnctl", *args], code, out.getvalue(), err.getvalue())


def run_step(step: Step, cwd: Path, env: dict[str, str], timeout: int = 600,
             in_process: bool = False) -> subprocess.CompletedProcess:
    """Run one step; with ``in_process`` a ``snnctl`` step runs through :func:`run_cli`."""
    if step.kind == "snnctl" and in_process:
        r = run_cli(small_training(step.args), cwd, env)
    else:
        r = subprocess.run(_command(step), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == step.expect, (
        f"`{step.source.strip()}` exited with {r.returncode}, not {step.expect}\n"
        f"--- stdout\n{r.stdout[-4000:]}\n--- stderr\n{r.stderr[-4000:]}")
    return r


def _command(step: Step) -> list[str]:
    """The command line of a step that runs in a fresh process."""
    if step.kind == "script":
        return [sys.executable, "-c", step.source]
    if step.kind == "pytest":
        return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *step.args]
    if step.kind == "python":
        return [sys.executable, *step.args]
    if step.kind == "snnctl":
        return [sys.executable, "-m", "snnctl", *small_training(step.args)]
    raise AssertionError(step.kind)
