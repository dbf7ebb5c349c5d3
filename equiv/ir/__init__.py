"""The typed intermediate representation between the parser and the executor.

`equiv.ir.unit` collects one side's file-scope declarations, `equiv.ir.lower`
turns each function body into the frozen nodes of `equiv.ir.nodes`, and
`equiv.ir.consteval` evaluates constant expressions.  Lowering is the one
whitelist of supported C: a construct is either turned into an IR node whose
meaning the executor defines exactly, or refused there with a located
`unsupported construct` error.
"""
