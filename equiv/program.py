"""Declarations of one side: functions, prototypes, types, enums, globals.

Built once from the parsed AST; the symbolic executor looks names up here.
Nodes are pycparser nodes, handled by class name, so this module does not
import pycparser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from equiv import ctypes_model as ct
from equiv.errors import InputError, Location, unsupported
from equiv.frontend import MACRO_PREFIX, ParsedSide, source_line


def location(node: Any) -> Location | None:
    """The user-facing location of a pycparser node."""
    coord = getattr(node, "coord", None)
    if coord is None or not coord.file:
        return None
    return Location(str(coord.file), coord.line or 0, coord.column or 0)


def located_error(node: Any, message: str) -> InputError:
    loc = location(node)
    quoted = source_line(loc.file, loc.line) if loc else None
    return InputError(loc, message, quoted)


def unsupported_at(node: Any, construct: str) -> InputError:
    err = unsupported(location(node), construct)
    loc = err.location
    err.source_line = source_line(loc.file, loc.line) if loc else None
    return err


@dataclass(frozen=True)
class Signature:
    """A function's return type and parameters."""

    ret: ct.CType
    params: tuple[tuple[str, ct.CType], ...]
    variadic: bool = False


@dataclass
class Program:
    """Everything one side declares at file scope."""

    side: ParsedSide
    typedefs: dict[str, ct.CType] = field(default_factory=dict)
    structs: dict[str, dict[str, ct.CType]] = field(default_factory=dict)
    enums: dict[str, int] = field(default_factory=dict)
    functions: dict[str, Any] = field(default_factory=dict)  # name -> FuncDef
    signatures: dict[str, Signature] = field(default_factory=dict)
    globals: dict[str, ct.CType] = field(default_factory=dict)
    macro_exprs: dict[str, Any] = field(default_factory=dict)
    user_functions: list[str] = field(default_factory=list)  # defined in user files, in order

    def is_user_node(self, node: Any) -> bool:
        loc = location(node)
        return loc is not None and loc.file in self.side.paths

    # ---- types -----------------------------------------------------------
    def resolve(self, node: Any) -> ct.CType:
        """The CType of a pycparser type node."""
        kind = type(node).__name__
        handler = getattr(self, f"_type_{kind}", None)
        if handler is None:
            raise unsupported_at(node, f"type {kind}")
        result: ct.CType = handler(node)
        return result

    def _type_TypeDecl(self, node: Any) -> ct.CType:
        return self.resolve(node.type)

    def _type_Typename(self, node: Any) -> ct.CType:
        return self.resolve(node.type)

    def _type_IdentifierType(self, node: Any) -> ct.CType:
        names = list(node.names)
        if len(names) == 1 and names[0] in self.typedefs:
            return self.typedefs[names[0]]
        t = ct.from_specifiers(names)
        if t is None:
            if any(n in ("float", "double") for n in names):
                raise unsupported_at(node, "floating point")
            raise unsupported_at(node, f"type '{' '.join(names)}'")
        return t

    def _type_PtrDecl(self, node: Any) -> ct.CType:
        if type(node.type).__name__ == "FuncDecl":
            return ct.CType("fnptr", 64, False, 0, "function pointer")
        return ct.pointer_to(self.resolve(node.type))

    def _type_ArrayDecl(self, node: Any) -> ct.CType:
        return ct.array_of(self.resolve(node.type))

    def _type_Struct(self, node: Any) -> ct.CType:
        tag = node.name or f"<anonymous@{getattr(node.coord, 'line', 0)}>"
        if node.decls is not None:
            fields: dict[str, ct.CType] = {}
            for decl in node.decls:
                if decl.name is not None:
                    fields[decl.name] = self.resolve(decl.type)
            self.structs[tag] = fields
        return ct.struct_type(tag)

    _type_Union = _type_Struct

    def _type_Enum(self, node: Any) -> ct.CType:
        if node.values is not None:
            value = 0
            for enumerator in node.values.enumerators:
                if enumerator.value is not None:
                    value = self.const_int(enumerator.value)
                self.enums[enumerator.name] = value
                value += 1
        return ct.INT

    def _type_FuncDecl(self, node: Any) -> ct.CType:
        return ct.CType("fnptr", 64, False, 0, "function")

    def field_type(self, struct: str | None, name: str) -> ct.CType:
        """A member's type; members of structs the fragment does not define are `long`."""
        if struct is not None and struct in self.structs:
            return self.structs[struct].get(name, ct.LONG)
        return ct.LONG

    # ---- constants -------------------------------------------------------
    def const_int(self, node: Any) -> int:
        """Evaluate an integer constant expression (enumerators, case labels)."""
        kind = type(node).__name__
        if kind == "Constant" and ct.is_integer_literal_kind(node.type):
            return ct.literal_type(node.value)[0]
        if kind == "Constant" and node.type == "char":
            return _char_value(node)
        if kind == "ID" and node.name in self.enums:
            return self.enums[node.name]
        if kind == "UnaryOp" and node.op in ("-", "~", "!", "+"):
            v = self.const_int(node.expr)
            return {"-": -v, "~": ~v, "!": int(not v), "+": v}[node.op]
        if kind == "BinaryOp":
            a, b = self.const_int(node.left), self.const_int(node.right)
            ops = {"+": a + b, "-": a - b, "*": a * b, "|": a | b, "&": a & b, "^": a ^ b,
                   "<<": a << b if 0 <= b < 128 else 0, ">>": a >> b if 0 <= b < 128 else 0}
            if node.op in ops:
                return ops[node.op]
        if kind == "Cast":
            return self.const_int(node.expr)
        raise located_error(node, "expected an integer constant expression")

    # ---- building --------------------------------------------------------
    def signature_of(self, funcdecl: Any) -> Signature:
        ret = self.resolve(funcdecl.type)
        params: list[tuple[str, ct.CType]] = []
        variadic = False
        if funcdecl.args is not None:
            for i, p in enumerate(funcdecl.args.params):
                pkind = type(p).__name__
                if pkind == "EllipsisParam":
                    variadic = True
                    continue
                if pkind == "ID":
                    params.append((p.name, ct.INT))  # K&R identifier list
                    continue
                t = self.resolve(p.type)
                if t.kind == "void" and p.name is None:
                    continue
                if t.kind == "array":
                    t = ct.pointer_to(t.elem or ct.LONG)
                params.append((p.name or f"arg{i}", t))
        return Signature(ret, tuple(params), variadic)


def _char_value(node: Any) -> int:
    text = node.value[1:-1]
    if text.startswith("\\"):
        escapes = {"n": 10, "t": 9, "r": 13, "0": 0, "\\": 92, "'": 39, '"': 34}
        if text[1:] in escapes:
            return escapes[text[1:]]
        if text[1] == "x":
            return int(text[2:], 16)
        return int(text[1:], 8)
    return ord(text)


def build_program(side: ParsedSide) -> Program:
    """Collect the file-scope declarations of `side` (later definitions win)."""
    prog = Program(side)
    for item in side.ast.ext:
        kind = type(item).__name__
        if kind == "FuncDef":
            _add_function(prog, item)
        elif kind == "Typedef":
            prog.typedefs[item.name] = prog.resolve(item.type)
        elif kind == "Decl":
            _add_decl(prog, item)
        elif kind == "Pragma":
            continue
        else:
            raise unsupported_at(item, f"file-scope {kind}")
    return prog


def _add_function(prog: Program, item: Any) -> None:
    name = item.decl.name
    if item.param_decls:
        raise unsupported_at(item, "K&R-style function definition")
    prog.signatures[name] = prog.signature_of(item.decl.type)
    prog.functions[name] = item
    if prog.is_user_node(item) and name not in prog.user_functions:
        prog.user_functions.append(name)


def _add_decl(prog: Program, item: Any) -> None:
    tkind = type(item.type).__name__
    if tkind == "FuncDecl":
        if item.name not in prog.functions:
            prog.signatures[item.name] = prog.signature_of(item.type)
        return
    if item.name is None:
        prog.resolve(item.type)  # struct/union/enum definition
        return
    if item.name.startswith(MACRO_PREFIX):
        prog.macro_exprs[item.name[len(MACRO_PREFIX):]] = item.init
        return
    t = prog.resolve(item.type)
    if t.kind == "fnptr":
        raise unsupported_at(item, "function pointer variable")
    prog.globals[item.name] = t
