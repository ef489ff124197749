# Kernels for ksparse._core (included by _core.pyx); see its docstring.
