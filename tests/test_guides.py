"""docs/guides/: every kind's guide, followed verbatim, gives a package that installs, passes its own tests,
trains, profiles and evaluates through the command line (see tests/packages.py for how a page is read)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from packages import environment, install, read_page, run_step, write_files

ROOT = Path(__file__).resolve().parents[1]
GUIDES = ROOT / "docs" / "guides"
KINDS = ("neurons", "surrogates", "attention", "regularizers", "models", "datasets", "recipes", "monitors",
         "exporters", "commands", "callbacks")
PAGES = sorted(p for p in GUIDES.glob("*.md") if p.name != "README.md")
#: GUIDES_ONLY=neurons,models narrows the run to some pages while they are being written
ONLY = set(filter(None, os.environ.get("GUIDES_ONLY", "").split(",")))


def test_there_is_a_guide_per_kind_and_the_index_links_each():
    index = (GUIDES / "README.md").read_text()
    assert {p.stem for p in PAGES} >= set(KINDS)
    for page in PAGES:
        assert f"]({page.name})" in index, f"docs/guides/README.md does not link {page.name}"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Every guide's files written into a folder of its own, and all their packages installed in one go."""
    base = tmp_path_factory.mktemp("guides")
    pages, packages = {}, []
    for path in PAGES:
        if ONLY and path.stem not in ONLY:
            continue
        page = read_page(path)
        folder = base / path.stem
        folder.mkdir()
        write_files(page, folder)
        packages += [folder / p for p in page.installs]
        pages[path.stem] = (page, folder)
    site = base / "site"
    install(packages, site)
    return pages, environment(site, base / "cache")


@pytest.mark.parametrize("name", [p.stem for p in PAGES])
def test_guide_runs_as_written(built, name):
    pages, env = built
    if name not in pages:
        pytest.skip(f"GUIDES_ONLY leaves out {name}")
    page, folder = pages[name]
    assert page.installs, f"{name}.md installs no package"
    kinds = [s.kind for s in page.steps]
    assert "pytest" in kinds, f"{name}.md does not run the package's tests"
    for command in ("train", "profile", "evaluate"):
        assert page.commands(command), f"{name}.md never runs `snnctl {command}` with its package"
    for step in page.steps:
        if step.kind != "pip":
            # the package's own tests and scripts run in fresh processes; the command line in this one
            run_step(step, folder, env, in_process=True)

