"""Types: the stub of the compiled module matches it (mypy.stubtest), and the package type-checks (mypy)."""

import os
import pathlib
import subprocess
import sys

import pytest

import ksparse

pytest.importorskip("mypy")


def test_core_stub_matches_the_compiled_module(tmp_path):
    # Run stubtest against the ksparse this test imported (in-place build or
    # installed copy): put its parent directory first on the path.
    package_parent = pathlib.Path(ksparse.__file__).resolve().parents[1]
    config = tmp_path / "mypy.ini"
    config.write_text(f"[mypy]\ncache_dir = {tmp_path / 'mypy-cache'}\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(package_parent)] + [p for p in [env.get("PYTHONPATH")] if p])
    proc = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "ksparse._core", "--mypy-config-file", str(config)],
        cwd=package_parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, (
        "ksparse/_core.pyi disagrees with the compiled module; fix the stub:\n" + proc.stdout + proc.stderr
    )


def test_package_type_checks(tmp_path):
    # The annotations users' type checkers read (py.typed ships) agree with the code.
    package_dir = pathlib.Path(ksparse.__file__).resolve().parent
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", str(package_dir), "--ignore-missing-imports",
         "--cache-dir", str(tmp_path / "mypy-cache")],
        cwd=package_dir.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, "mypy finds type errors in ksparse:\n" + proc.stdout + proc.stderr
