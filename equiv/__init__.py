"""equiv: symbolic equivalence checking for kernel syscall-exit-path C code."""

from equiv import _bytecode

__version__ = "0.2.0"

_bytecode.install()
