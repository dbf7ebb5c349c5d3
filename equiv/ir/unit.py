"""One side's file-scope declarations: types, struct layouts, enums, globals, functions.

`build_unit` reads the parsed translation unit once.  Function bodies are
lowered to IR on first use and cached, so a function that is never reached
by a checked function cannot stop the check.  Nodes are pycparser nodes,
dispatched by class name like pycparser's own visitors; this module does not
import pycparser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from equiv.errors import InputError, Location, unsupported
from equiv.frontend.source import MACRO_PREFIX, ParsedSide, source_line
from equiv.ir import ctypes_model as ct
from equiv.ir import nodes as ir


def location(node: Any) -> Location | None:
    """The user-facing location of a pycparser node."""
    coord = getattr(node, "coord", None)
    if coord is None or not coord.file:
        return None
    return Location(str(coord.file), coord.line or 0, coord.column or 0)


def error_at(loc: Location | None, message: str) -> InputError:
    """A located error that quotes the source line."""
    return InputError(loc, message, source_line(loc.file, loc.line) if loc else None)


def located_error(node: Any, message: str) -> InputError:
    return error_at(location(node), message)


def unsupported_at(node: Any, construct: str) -> InputError:
    err = unsupported(location(node), construct)
    loc = err.location
    err.source_line = source_line(loc.file, loc.line) if loc else None
    return err


@dataclass(frozen=True)
class StructLayout:
    """The members of a struct or union the side defines."""

    tag: str
    fields: tuple[ir.Field, ...]
    union: bool

    def member(self, name: str) -> ir.Field | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True)
class Enumerator:
    value: int
    ctype: ct.CType  # int when the value fits, else the enum's own type (GCC)


@dataclass(frozen=True)
class GlobalVar:
    """A file-scope variable.

    `defined`: the side has a definition (not only `extern`), so before any
    write it holds `init` (0 when no initializer is given).  `const`: it can
    never be written, so it always holds `init`.
    """

    name: str
    ctype: ct.CType
    const: bool
    defined: bool
    init_node: Any  # the initializer's AST, lowered when the global is read
    loc: Location | None
    static: bool = False  # internal linkage: only this translation unit can write it


@dataclass
class Unit:
    """Everything one side declares at file scope."""

    side: ParsedSide
    typedefs: dict[str, ct.CType] = field(default_factory=dict)
    structs: dict[str, StructLayout] = field(default_factory=dict)
    enums: dict[str, Enumerator] = field(default_factory=dict)
    funcdefs: dict[str, Any] = field(default_factory=dict)  # name -> pycparser FuncDef
    signatures: dict[str, ir.Signature] = field(default_factory=dict)
    globals: dict[str, GlobalVar] = field(default_factory=dict)
    macro_exprs: dict[str, Any] = field(default_factory=dict)
    user_functions: list[str] = field(default_factory=list)  # defined in user files, in order
    enum_types: dict[str, ct.CType] = field(default_factory=dict)  # enum tag -> its type
    # The side holds its translation units whole (not a cut-out of them): only then
    # does "no function here writes this static global" mean it is never written.
    whole: bool = True
    # File-scope declarations that could not be read or lowered, in file order, and
    # the names and tags each would have declared: reaching one is its error.
    skipped: list[InputError] = field(default_factory=list)
    skipped_names: dict[str, InputError] = field(default_factory=dict)
    skipped_tags: dict[str, InputError] = field(default_factory=dict)
    # Function definitions in the user's files that were skipped: each is a function
    # the check would have checked, so each gets its error as its result.
    skipped_functions: dict[str, InputError] = field(default_factory=dict)
    # The type of an expression in the function being lowered (GNU typeof), innermost last.
    typeof_of: list[Any] = field(default_factory=list)
    # Undeclared identifiers read as opaque constants (equiv.ir.opaque): name -> first use.
    opaque_names: dict[str, Location | None] = field(default_factory=dict)
    _lowered: dict[str, ir.Function] = field(default_factory=dict)
    _inits: dict[str, int] = field(default_factory=dict)
    # Values computed from the unit once and asked for several times in a check
    # (equiv.explain.perbit.macro_values), by what they are.
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def skip(self, err: InputError, names: tuple[str, ...], tags: tuple[str, ...]) -> None:
        """Record a file-scope declaration that is left out (`-v` lists it)."""
        self.skipped.append(err)
        for name in names:
            self.skipped_names.setdefault(name, err)
        for tag in tags:
            self.skipped_tags.setdefault(tag, err)

    def reached_skipped(self, name: str, use: Location | None, tag: bool = False) -> None:
        """Refuse `name` (a tag when `tag`) if only a skipped declaration declares it."""
        err = (self.skipped_tags if tag else self.skipped_names).get(name)
        if err is None:
            return
        what = f"'struct {name}'" if tag else f"'{name}'"
        where = f" (reached at {use})" if use is not None else ""
        raise InputError(err.location, f"{err.message}; this declaration of {what} was "
                                       f"skipped and a checked function needs it{where}",
                         err.source_line)

    @property
    def functions(self) -> dict[str, Any]:
        """The functions this side defines (name -> definition)."""
        return self.funcdefs

    def is_user_node(self, node: Any) -> bool:
        loc = location(node)
        return loc is not None and loc.file in self.side.paths

    def function(self, name: str) -> ir.Function:
        """The lowered body of defined function `name` (lowered once)."""
        if name not in self._lowered:
            from equiv.ir.lower import lower_function

            self._lowered[name] = lower_function(self, self.funcdefs[name])
        return self._lowered[name]

    def never_written(self, name: str) -> bool:
        """A static global no function of this unit assigns: it always holds its initializer.

        (Its address cannot be taken in the supported subset, and no other
        translation unit can name it.)  Any assignment, `++` or `--` to the
        name anywhere counts, whatever it resolves to: that only errs towards
        treating the global as written.
        """
        g = self.globals.get(name)
        if g is None or not g.static or not g.defined or not self.whole:
            return False
        if "_written" not in self.__dict__:
            self.__dict__["_written"] = _assigned_names(self.funcdefs.values())
        return name not in self.__dict__["_written"]

    def global_init(self, name: str) -> int:
        """The value a defined global holds before any write (its initializer, or 0)."""
        if name not in self._inits:
            from equiv.ir.lower import constant_initializer

            g = self.globals[name]
            self._inits[name] = 0 if g.init_node is None else constant_initializer(self, g)
        return self._inits[name]

    def const_int(self, node: Any) -> int:
        """The value of an integer constant expression (an enumerator, a macro)."""
        from equiv.ir.lower import constant

        return constant(self, node)

    # ---- types -------------------------------------------------------------------
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
        if node.name == "__equiv_typeof":  # GNU typeof(expr): the expression's type
            if not self.typeof_of:
                raise unsupported_at(node, "typeof at file scope")
            return self.typeof_of[-1](node.type)
        if node.name == "__equiv_auto_type":
            raise unsupported_at(node, "__auto_type other than in a local's declaration "
                                       "with an initializer")
        return self.resolve(node.type)

    def _type_IdentifierType(self, node: Any) -> ct.CType:
        names = list(node.names)
        if len(names) == 1 and names[0] in self.typedefs:
            return self.typedefs[names[0]]
        if len(names) == 1:
            self.reached_skipped(names[0], location(node))
        t = ct.from_specifiers(names)
        if t is None:
            if any(n in ("float", "double") for n in names):
                raise unsupported_at(node, "floating point")
            if "__int128" in names:
                raise unsupported_at(node, "128-bit integer type")
            if len(names) == 1 and names[0].isidentifier():
                # The parser lexed it as a type name nothing declares.
                return ct.opaque_type(names[0])
            raise unsupported_at(node, f"type '{' '.join(names)}'")
        return t

    def _type_PtrDecl(self, node: Any) -> ct.CType:
        if type(node.type).__name__ == "FuncDecl":
            return ct.CType("fnptr", 64, False, 0, "function pointer")
        return ct.pointer_to(self.resolve(node.type))

    def _type_ArrayDecl(self, node: Any) -> ct.CType:
        length = None
        if node.dim is not None:
            try:
                length = self.const_int(node.dim)
            except InputError:
                raise unsupported_at(node, "variable-length array (a length that is not a "
                                           "constant)") from None
            if length < 0:
                raise located_error(node.dim, f"array length {length} is negative")
        return ct.array_of(self.resolve(node.type), length)

    def _type_Struct(self, node: Any) -> ct.CType:
        tag = node.name or f"<anonymous@{getattr(node.coord, 'line', 0)}>"
        union = type(node).__name__ == "Union"
        if node.decls is not None:
            self.structs[tag] = StructLayout(tag, self._fields(node, union), union)
        return ct.struct_type(tag)

    _type_Union = _type_Struct

    def _fields(self, node: Any, union: bool) -> tuple[ir.Field, ...]:
        fields: list[ir.Field] = []
        for decl in node.decls:
            t = self.resolve(decl.type)
            if decl.name is None:
                if t.kind == "struct" and t.target in self.structs:
                    raise unsupported_at(decl, "anonymous struct or union member")
                continue
            bits = None
            if decl.bitsize is not None:
                bits = self._bit_width(decl, t)
            if union and (t.kind not in ("int", "ptr") or bits is not None):
                raise unsupported_at(decl, "union member that is not a plain integer or "
                                           "pointer")
            fields.append(ir.Field(decl.name, t, bits, union))
        return tuple(fields)

    def _bit_width(self, decl: Any, t: ct.CType) -> int:
        bits = self.const_int(decl.bitsize)
        if t.kind != "int":
            raise located_error(decl, f"bit-field '{decl.name}' has non-integer type")
        if not 0 < bits <= t.width:
            raise located_error(decl, f"width of bit-field '{decl.name}' ({bits}) is not "
                                      f"between 1 and {t.width}")
        if bits > 32:
            raise unsupported_at(decl, f"bit-field wider than 32 bits ('{decl.name}')")
        return bits

    def _type_Enum(self, node: Any) -> ct.CType:
        if node.values is None:
            return ct.INT if node.name is None else self.enum_types.get(node.name, ct.UINT)
        values: list[tuple[str, int]] = []
        value = 0
        for enumerator in node.values.enumerators:
            if enumerator.value is not None:
                value = self.const_int(enumerator.value)
            values.append((enumerator.name, value))
            # Later enumerators may use this one: while the enum is incomplete its
            # constants have the type of their value.
            self.enums[enumerator.name] = Enumerator(value, _value_type(value))
            value += 1
        etype = ct.enum_type([v for _, v in values])
        for name, v in values:
            self.enums[name] = Enumerator(v, ct.INT if ct.fits(v, ct.INT) else etype)
        if node.name is not None:
            self.enum_types[node.name] = etype
        return etype

    def _type_FuncDecl(self, node: Any) -> ct.CType:
        return ct.CType("fnptr", 64, False, 0, "function")

    def layout(self, tag: str | None) -> StructLayout | None:
        return self.structs.get(tag) if tag is not None else None

    def signature_of(self, funcdecl: Any) -> ir.Signature:
        ret = self.resolve(funcdecl.type)
        params: list[tuple[str, ct.CType]] = []
        variadic = False
        prototyped = funcdecl.args is not None
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
        return ir.Signature(ret, tuple(params), variadic, prototyped)


def _assigned_names(funcdefs: Any) -> set[str]:
    """Identifiers assigned, incremented or decremented anywhere in `funcdefs`."""
    names: set[str] = set()
    stack = list(funcdefs)
    while stack:
        node = stack.pop()
        kind = type(node).__name__
        target = None
        if kind == "Assignment":
            target = node.lvalue
        elif kind == "UnaryOp" and node.op in ("++", "--", "p++", "p--"):
            target = node.expr
        if target is not None and type(target).__name__ == "ID":
            names.add(target.name)
        stack.extend(child for _, child in node.children())
    return names


def _value_type(value: int) -> ct.CType:
    for t in (ct.INT, ct.UINT, ct.LONG, ct.ULONG):
        if ct.fits(value, t):
            return t
    return ct.ULLONG


def build_unit(side: ParsedSide, whole: bool = True) -> Unit:
    """Collect the file-scope declarations of `side` (later definitions win).

    A declaration that cannot be read (skipped by the parser) or lowered is
    left out and recorded in `Unit.skipped`: it is an error only where a
    checked function reaches a name or tag it declares.

    `whole` is false for a cut-out of a file (equiv patch), which may lack
    functions that write its static globals."""
    unit = Unit(side, whole=whole)
    for s in side.skipped:
        unit.skip(s.error, s.names, s.tags)
        if s.function is not None and s.error.location is not None \
                and side.is_user_file(s.error.location.file):
            unit.skipped_functions.setdefault(s.function, s.error)
    for item in side.ast.ext:
        try:
            _add_item(unit, item)
        except InputError as err:
            unit.skip(err, _declared_names(item), _declared_tags(item))
            if type(item).__name__ == "FuncDef" and unit.is_user_node(item):
                unit.skipped_functions.setdefault(item.decl.name, err)
    for name in unit.funcdefs:
        unit.skipped_functions.pop(name, None)  # another definition was read
    return unit


def _add_item(unit: Unit, item: Any) -> None:
    kind = type(item).__name__
    if kind == "FuncDef":
        _add_function(unit, item)
    elif kind == "Typedef":
        unit.typedefs[item.name] = unit.resolve(item.type)
    elif kind == "Decl":
        _add_decl(unit, item)
    elif kind != "Pragma":
        raise unsupported_at(item, f"file-scope {kind}")


def _declared_names(item: Any) -> tuple[str, ...]:
    """The identifier a file-scope item declares (a function, variable or typedef)."""
    kind = type(item).__name__
    name = item.decl.name if kind == "FuncDef" else getattr(item, "name", None)
    return (name,) if isinstance(name, str) else ()


def _declared_tags(item: Any) -> tuple[str, ...]:
    """The struct, union or enum tags a file-scope item defines."""
    tags: list[str] = []
    stack = [getattr(item, "type", None)]
    while stack:
        node = stack.pop()
        if node is None:
            continue
        if type(node).__name__ in ("Struct", "Union", "Enum") and node.name:
            tags.append(node.name)
        stack.extend(child for _, child in node.children())
    return tuple(tags)


def _add_function(unit: Unit, item: Any) -> None:
    name = item.decl.name
    if type(item.decl.type).__name__ != "FuncDecl":
        raise unsupported_at(item, "a body after a declarator that is not a function")
    args = item.decl.type.args
    if item.param_decls or any(type(p).__name__ == "ID" for p in getattr(args, "params", None) or ()):
        raise unsupported_at(item, "K&R-style function definition")
    if _kept_over_model(unit, name, item):
        return
    unit.signatures[name] = unit.signature_of(item.decl.type)
    if name in unit.side.weak:
        return  # `__weak`: another file may replace the body, so the function stays external
    unit.funcdefs[name] = item
    unit._lowered.pop(name, None)
    if unit.is_user_node(item) and name not in unit.user_functions:
        unit.user_functions.append(name)


def _add_decl(unit: Unit, item: Any) -> None:
    tkind = type(item.type).__name__
    if tkind == "FuncDecl":
        if item.name not in unit.funcdefs:
            unit.signatures[item.name] = unit.signature_of(item.type)
        return
    if item.name is None:
        unit.resolve(item.type)  # struct/union/enum definition
        return
    if item.name.startswith(MACRO_PREFIX):
        unit.macro_exprs[item.name[len(MACRO_PREFIX):]] = item.init
        return
    t = unit.resolve(item.type)
    if t.kind == "fnptr":
        raise unsupported_at(item, "function pointer variable")
    storage = item.storage or []
    defined = "extern" not in storage or item.init is not None
    previous = unit.globals.get(item.name)
    if previous is not None and previous.defined and not defined:
        return  # an extern declaration after the definition changes nothing
    unit.globals[item.name] = GlobalVar(item.name, t, "const" in (item.quals or []), defined,
                                        item.init, location(item), "static" in storage)
    unit._inits.pop(item.name, None)


def _kept_over_model(unit: Unit, name: str, item: Any) -> bool:
    """Whether the definition of `name` already read stays, `item` being a later one.

    The side's own code (its files and the headers they include) comes before the models
    in the translation unit, and its definition wins over a model's (`--model`), as C would
    never see both: only a definition from the prelude yields to a later one.
    """
    existing = unit.funcdefs.get(name)
    if existing is None or unit.is_user_node(item):
        return False
    where = location(existing)
    return where is not None and where.file != unit.side.prelude_file

