"""equiv: symbolic equivalence checking for kernel syscall-exit-path C code."""

__version__ = "0.2.0"
