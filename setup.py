"""Build script for the compiled core ``ksparse._core``.

Environment switches
--------------------
KSPARSE_NO_OPENMP=1
    Build without OpenMP even when the compiler supports it.
KSPARSE_DEBUG=1
    Build with Cython bounds and wraparound checks turned on and ``-O0 -g``.
KSPARSE_SANITIZE=1
    Build with AddressSanitizer and UndefinedBehaviorSanitizer (gcc or clang
    only; an error with MSVC): ``-fsanitize=address,undefined
    -fno-omit-frame-pointer -fno-sanitize-recover=undefined -O1 -g`` are added
    to the compile and the link flags, in place of ``-O3``.  OpenMP stays as
    chosen above.  Combined with KSPARSE_DEBUG=1 the Cython checks are on too
    and the C code is built at ``-O1`` (the sanitizer flags come last).
    CPython is not built with ASan, so the runtime must be preloaded to import
    the result, e.g. ``LD_PRELOAD=$(gcc -print-file-name=libasan.so)`` with
    ``ASAN_OPTIONS=detect_leaks=0``; ``.ci/sanitize`` does all of this.
"""

import os
import shutil
import sys
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _truthy(name):
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _compiler_accepts(compiler, flags, source):
    """Return True when ``compiler`` compiles and links ``source`` with ``flags``."""
    tmp = tempfile.mkdtemp(prefix="ksparse-probe-")
    try:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as fh:
            fh.write(source)
        try:
            objs = compiler.compile([src], output_dir=tmp, extra_postargs=flags)
            compiler.link_executable(objs, os.path.join(tmp, "probe"), extra_postargs=flags)
        except Exception:
            return False
        return True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_SANITIZE_FLAGS = [
    "-fsanitize=address,undefined",
    "-fno-omit-frame-pointer",
    "-fno-sanitize-recover=undefined",
    "-O1",
    "-g",
]

_OPENMP_PROBE = """
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    return n > 0 ? 0 : 1;
}
"""


class BuildExt(build_ext):
    """``build_ext`` that probes the compiler for OpenMP and never fails over it."""

    def build_extensions(self):
        debug = _truthy("KSPARSE_DEBUG")
        sanitize = _truthy("KSPARSE_SANITIZE")
        compile_args = ["-O0", "-g"] if debug else ([] if sanitize else ["-O3"])
        link_args = []
        openmp = False
        if self.compiler.compiler_type == "msvc":
            if sanitize:
                raise RuntimeError("KSPARSE_SANITIZE=1 needs gcc or clang, not MSVC")
            compile_args = ["/Od"] if debug else ["/O2"]
            if not _truthy("KSPARSE_NO_OPENMP"):
                compile_args.append("/openmp")
                openmp = True
        else:
            compile_args += ["-fno-strict-aliasing"]
            if not _truthy("KSPARSE_NO_OPENMP") and _compiler_accepts(
                self.compiler, ["-fopenmp"], _OPENMP_PROBE
            ):
                compile_args.append("-fopenmp")
                link_args.append("-fopenmp")
                openmp = True
            if sanitize:
                compile_args += _SANITIZE_FLAGS
                link_args += _SANITIZE_FLAGS
        print(f"ksparse: building with OpenMP {'on' if openmp else 'off'}", file=sys.stderr)
        if sanitize:
            print("ksparse: building with " + " ".join(_SANITIZE_FLAGS), file=sys.stderr)
        for ext in self.extensions:
            ext.extra_compile_args = list(ext.extra_compile_args or []) + compile_args
            ext.extra_link_args = list(ext.extra_link_args or []) + link_args
        super().build_extensions()


def _extensions():
    from Cython.Build import cythonize

    debug = _truthy("KSPARSE_DEBUG")
    directives = {
        "language_level": "3",
        "boundscheck": debug,
        "wraparound": debug,
        "initializedcheck": debug,
        "cdivision": True,
        "embedsignature": True,
    }
    # The C kernels (ksparse/*.h) and their Cython declarations (_kernels.pxd) and
    # include files: a change to any of them rebuilds the module.
    here = os.path.dirname(os.path.abspath(__file__))
    depends = sorted(
        os.path.join("ksparse", f)
        for f in os.listdir(os.path.join(here, "ksparse"))
        if f.endswith((".h", ".pxi", ".pxd"))
    )
    ext = Extension(
        "ksparse._core",
        sources=["ksparse/_core.pyx"],
        include_dirs=["ksparse"],
        depends=depends,
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    return cythonize([ext], compiler_directives=directives, quiet=True)


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
