"""Types: the stub of the compiled module matches it (mypy.stubtest), and the package type-checks (mypy).

The two checks share the work instead of both paying for it:

- stubtest compares the names, signatures and defaults of ``ksparse/_core.pyi`` with the compiled
  module. It cannot use a cache (it always builds from scratch), so it does not follow numpy and the
  other third-party packages, whose stubs were most of its time: what it compares is the stub with
  the runtime, which third-party types do not enter;
- mypy type-checks the whole package, the stub included, with every import followed: a stub
  naming a numpy type that does not exist fails here. Its cache is kept for the session (and,
  with the pytest cache enabled, across sessions).
"""

import os
import pathlib
import subprocess
import sys

import pytest

import ksparse

pytest.importorskip("mypy")

# Third-party packages stubtest need not read: the stub's own types are checked by the mypy test.
NOT_FOLLOWED = "numpy.*,scipy.*,matplotlib.*,PIL.*,yaml.*,safetensors.*,tqdm.*,threadpoolctl.*"


def test_core_stub_matches_the_compiled_module(tmp_path):
    # Run stubtest against the ksparse this test imported (in-place build or
    # installed copy): put its parent directory first on the path.
    package_parent = pathlib.Path(ksparse.__file__).resolve().parents[1]
    config = tmp_path / "mypy.ini"
    config.write_text(
        f"[mypy]\ncache_dir = {tmp_path / 'mypy-cache'}\n\n"
        f"[mypy-{NOT_FOLLOWED}]\nfollow_imports = skip\nfollow_imports_for_stubs = True\n"
    )
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


def test_package_type_checks(type_check_cache):
    # The annotations users' type checkers read (py.typed ships) agree with the code;
    # ksparse/_core.pyi is one of the files checked.
    package_dir = pathlib.Path(ksparse.__file__).resolve().parent
    assert (package_dir / "_core.pyi").is_file()
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", str(package_dir), "--ignore-missing-imports",
         "--cache-dir", str(type_check_cache)],
        cwd=package_dir.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, "mypy finds type errors in ksparse:\n" + proc.stdout + proc.stderr
