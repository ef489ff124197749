"""Package-level checks: version, public names, build report, the README's commands."""

import pathlib
import re
import sys

import ksparse

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_version_matches_pyproject():
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.9/3.10
        tomllib = __import__("tomli")
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert ksparse.__version__ == meta["project"]["version"]


def test_every_public_name_resolves():
    assert len(set(ksparse.__all__)) == len(ksparse.__all__), "duplicate names in __all__"
    for name in ksparse.__all__:
        assert hasattr(ksparse, name), f"ksparse.__all__ lists {name!r} but ksparse has no such attribute"


def test_openmp_report_is_consistent():
    from ksparse import _core

    assert isinstance(ksparse.openmp_enabled(), bool)
    if not ksparse.openmp_enabled():
        assert _core.openmp_max_threads() == 1
    else:
        assert _core.openmp_max_threads() >= 1


def test_readme_opens_with_the_two_setup_commands_and_ci_runs_the_second():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", readme, re.S)
    assert block, "the README must open with a bash code block holding the two set-up commands"
    lines = [ln for ln in block.group(1).splitlines() if ln.strip()]
    assert len(lines) == 2
    assert lines[0].startswith("pip install . && ksparse demo")
    assert lines[1].startswith('pip install -e ".[test]"')
    ci = (ROOT / ".ci" / "run").read_text()
    assert "grep -m1 '^pip install -e \"\\.\\[test\\]\"' README.md" in ci
