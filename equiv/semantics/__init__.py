"""Symbolic execution of lowered IR into z3 terms (`equiv.semantics.executor`)."""
