"""The sandbox tenant-written templates run in: Jinja's ``ImmutableSandboxedEnvironment``,
tightened and bounded.

**What a template can reach.** Only the context it is given, which :func:`plain_context` copies
and checks first: dicts (string keys), lists and tuples of ``str``, ``int``, ``bool``,
``Decimal``, ``date``, ``datetime`` and ``None`` (floats become Decimals; ``Markup`` and other
``str`` subclasses become plain strings, so record data is always escaped). Anything else — ORM
objects, functions, classes — is refused with a ``TypeError`` before rendering: that is a bug of
the caller, not of the template.

On top of Jinja's sandbox (no ``_``-attributes, no mutation of lists and dicts):

* methods are allow-listed per type (:data:`SAFE_METHODS`): ``str.upper`` or ``dict.items`` are
  callable, ``str.format``/``format_map`` (the known sandbox-escape family), ``ljust``,
  ``zfill``, ``strftime`` and everything else are not;
* no ``include``/``import``/``extends`` (there is no loader), no recursive loops, no ``random``
  or ``lipsum`` (a document must render the same twice);
* autoescape is on; ``|safe`` is available to the template's author, whose template it is.

**Undefined names.** A *top-level* name that is not in the context is an error naming it (a typo
shows at once, with its line). A *missing key or attribute* of a value that exists
(``record.cf_region`` when the field is empty, ``customer.contact.phone`` when there is no
contact) prints as an empty string, is false in ``{% if %}`` and takes ``|default``: custom
fields come and go, and a template must not break when one is empty.

**Bounds** (all raise :class:`TemplateLimitError` with a message for the author):

* :data:`MAX_RANGE` items from ``range()``, :data:`MAX_LOOP` iterations per loop;
* :data:`MAX_OPERATIONS` steps per render — loop iterations and calls (macros included) — and
  :data:`TIME_LIMIT` seconds, so nested loops and recursive macros end;
* :data:`MAX_VALUE` characters (or items) per computed value: ``*``, ``+``, ``~``, ``%``
  formatting, ``**`` and the filters that can grow text (``center``, ``indent``, ``replace``,
  ``join``, ``format``, ``batch``, ``slice``) are checked *before* the value is built;
  integers stay below :data:`MAX_INT_BITS` bits;
* :data:`MAX_EMITTED` characters written in all (blocks captured with ``{% set %}`` included)
  and :data:`MAX_OUTPUT` characters of final HTML;
* Python's recursion limit for macros calling themselves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from jinja2 import ChainableUndefined, nodes
from jinja2.exceptions import (
    SecurityError,
    TemplateNotFound,
    TemplateRuntimeError,
    TemplateSyntaxError,
    UndefinedError,
)
from jinja2.filters import FILTERS as JINJA_FILTERS
from jinja2.runtime import LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Cycler, Joiner, Namespace, _PassArg, missing, pass_context
from jinja2.visitor import NodeTransformer
from markupsafe import Markup

from print_templates import filters as print_filters
from print_templates.errors import TemplateError, TemplateLimitError

MAX_RANGE = 10_000
MAX_LOOP = 10_000
MAX_OPERATIONS = 300_000
TIME_LIMIT = 10.0
MAX_VALUE = 1_000_000
MAX_INT_BITS = 4_096
MAX_EMITTED = 5_000_000
MAX_OUTPUT = 2_000_000
MAX_FORMAT_WIDTH = 200
#: How deep a context may nest, and how many values it may hold in all.
MAX_CONTEXT_DEPTH = 20
MAX_CONTEXT_VALUES = 500_000

TEMPLATE_NAME = "<print template>"

#: Methods a template may call, per type of value; every other callable attribute is refused.
SAFE_METHODS: Mapping[type, frozenset[str]] = {
    str: frozenset(
        [
            "capitalize",
            "casefold",
            "count",
            "endswith",
            "find",
            "isalnum",
            "isalpha",
            "isdecimal",
            "isdigit",
            "islower",
            "isnumeric",
            "isspace",
            "istitle",
            "isupper",
            "lower",
            "lstrip",
            "partition",
            "removeprefix",
            "removesuffix",
            "rfind",
            "rpartition",
            "rsplit",
            "rstrip",
            "split",
            "splitlines",
            "startswith",
            "strip",
            "swapcase",
            "title",
            "upper",
        ]
    ),
    dict: frozenset({"get", "items", "keys", "values"}),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
    dt.date: frozenset({"isoformat", "weekday", "isoweekday"}),
    dt.datetime: frozenset({"isoformat", "weekday", "isoweekday", "date"}),
    Cycler: frozenset({"next", "reset"}),
    LoopContext: frozenset({"cycle", "changed"}),
}
SAFE_METHODS[Markup] = SAFE_METHODS[str] | {"striptags", "unescape"}


@dataclass
class RenderState:
    """What the filters and guards of one render share (kept in a context variable)."""

    locale: str
    currency: str | None
    deadline: float
    operations: int = 0
    emitted: int = 0

    def tick(self, count: int = 1) -> None:
        self.operations += count
        if self.operations > MAX_OPERATIONS:
            raise TemplateLimitError(
                _(
                    "The template does too much work (more than %(n)s steps): "
                    "simplify its loops and macros.",
                    n=f"{MAX_OPERATIONS:,}",
                )
            )
        if self.operations % 512 == 0 and time.monotonic() > self.deadline:
            raise TemplateLimitError(
                _("Filling in the template took longer than %(n)d seconds.", n=int(TIME_LIMIT))
            )


_state: ContextVar[RenderState | None] = ContextVar("print_render_state", default=None)


def render_state() -> RenderState | None:
    """The render in progress in this thread, if any."""
    return _state.get()


def _tick(count: int = 1) -> None:
    state = _state.get()
    if state is not None:
        state.tick(count)


def _too_long() -> TemplateLimitError:
    return TemplateLimitError(
        _(
            "A value of the template would be longer than %(n)s characters or items.",
            n=f"{MAX_VALUE:,}",
        )
    )


def _check_size(value: Any) -> Any:
    if isinstance(value, str | list | tuple) and len(value) > MAX_VALUE:
        raise _too_long()
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise _too_big_number()
    return value


def _too_big_number() -> TemplateLimitError:
    return TemplateLimitError(_("Numbers this large are not allowed in a template."))


_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


def _check_printf(fmt: str) -> None:
    """Refuse ``%`` formats whose width or precision would build a huge string."""
    for match in _PRINTF_SPEC.finditer(fmt):
        for part in match.groups():
            if part == "*" or (part and int(part) > MAX_FORMAT_WIDTH):
                raise TemplateLimitError(
                    _(
                        "Widths and precisions in a format may be at most %(n)d.",
                        n=MAX_FORMAT_WIDTH,
                    )
                )


class PrintUndefined(ChainableUndefined):
    """Strict for unknown top-level names and refused attributes; empty for missing keys or
    attributes of existing values (see the module docstring)."""

    __slots__ = ()

    def _strict(self) -> bool:
        return self._undefined_obj is missing or self._undefined_exception is not UndefinedError

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__" or self._strict():
            self._fail_with_undefined_error()
        return self

    __getitem__ = __getattr__

    def __str__(self) -> str:
        if self._strict():
            self._fail_with_undefined_error()
        return ""

    def __html__(self) -> str:
        return str(self)

    def __iter__(self) -> Iterator[Any]:
        if self._strict():
            self._fail_with_undefined_error()
        return iter(())

    def __bool__(self) -> bool:
        if self._strict():
            self._fail_with_undefined_error()
        return False

    def __len__(self) -> int:
        if self._strict():
            self._fail_with_undefined_error()
        return 0


@pass_context
def _bounded_loop(context: Any, value: Any) -> Iterator[Any]:
    """Wraps every ``{% for %}`` iterable: counts iterations against the loop and work caps."""
    state = _state.get()
    for index, item in enumerate(value):
        if index >= MAX_LOOP:
            raise TemplateLimitError(_("A loop may run at most %(n)s times.", n=f"{MAX_LOOP:,}"))
        if state is not None:
            state.tick()
        yield item


@pass_context
def _emit(context: Any, value: Any) -> Any:
    """Wraps every output: counts what the template writes, captured blocks included."""
    state = _state.get()
    if state is not None:
        size = len(value) if isinstance(value, str) else len(str(value))
        state.emitted += size
        if state.emitted > MAX_EMITTED:
            raise TemplateLimitError(
                _(
                    "The template writes more than %(n)s characters: check its loops.",
                    n=f"{MAX_EMITTED:,}",
                )
            )
    return value


@pass_context
def _bounded_text(context: Any, value: Any) -> Any:
    return _check_size(value)


class _Guard(NodeTransformer):
    """Rewrites a parsed template so loops, outputs and ``~`` go through the guards above."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        if node.recursive:
            raise TemplateSyntaxError(
                _("Recursive loops are not available in print templates."), node.lineno
            )
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, "_bounded_loop", [], [], None, None, lineno=node.lineno)
        return node

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        wrapped: list[nodes.Expr] = []
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                const = nodes.Const(child.data, lineno=child.lineno)
                call = nodes.Filter(const, "_emit", [], [], None, None, lineno=child.lineno)
                wrapped.append(nodes.MarkSafe(call, lineno=child.lineno))
            else:
                wrapped.append(
                    nodes.Filter(child, "_emit", [], [], None, None, lineno=child.lineno)
                )
        node.nodes = wrapped
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Filter(node, "_bounded_text", [], [], None, None, lineno=node.lineno)


def _safe_range(*args: Any) -> range:
    for arg in args:
        if not isinstance(arg, int) or isinstance(arg, bool):
            raise TemplateError(_("range() takes whole numbers."))
    values = range(*args)
    if len(values) > MAX_RANGE:
        raise TemplateLimitError(_("range() may give at most %(n)s numbers.", n=f"{MAX_RANGE:,}"))
    _tick()
    return values


def _guarded(name: str, func: Any) -> Any:
    """A Jinja filter that counts as one step and whose result is size-checked.

    It takes the render's context, which also keeps Jinja from running it while compiling
    (constant folding would run it outside the render's bounds and locale)."""
    pass_arg = _PassArg.from_obj(func)

    @pass_context
    def wrapper(context: Any, *args: Any, **kwargs: Any) -> Any:
        _tick()
        if pass_arg is _PassArg.context:
            result = func(context, *args, **kwargs)
        elif pass_arg is _PassArg.eval_context:
            result = func(context.eval_ctx, *args, **kwargs)
        elif pass_arg is _PassArg.environment:
            result = func(context.environment, *args, **kwargs)
        else:
            result = func(*args, **kwargs)
        return _check_size(result)

    wrapper.__name__ = name
    wrapper.__doc__ = func.__doc__
    return wrapper


def _width(value: Any, name: str) -> None:
    size = len(value) if isinstance(value, str) else value
    if isinstance(size, int) and size > MAX_FORMAT_WIDTH * 10:
        raise TemplateLimitError(
            _("%(filter)s: the width may be at most %(n)d.", filter=name, n=MAX_FORMAT_WIDTH * 10)
        )


def _center(value: Any, width: int = 80) -> str:
    _width(width, "center")
    return JINJA_FILTERS["center"](value, width)


def _indent(value: Any, width: Any = 4, first: bool = False, blank: bool = False) -> str:
    _width(width, "indent")
    text = str(value)
    if len(text) + (text.count("\n") + 1) * (width if isinstance(width, int) else len(width)) > (
        MAX_VALUE
    ):
        raise _too_long()
    return JINJA_FILTERS["indent"](value, width, first, blank)


def _replace_filter(eval_ctx: Any, value: Any, old: Any, new: Any, count: int | None = None):
    text, old_s, new_s = str(value), str(old), str(new)
    occurrences = text.count(old_s) if old_s else len(text) + 1
    if count is not None and count >= 0:
        occurrences = min(occurrences, count)
    if len(text) + occurrences * max(len(new_s) - len(old_s), 0) > MAX_VALUE:
        raise _too_long()
    return JINJA_FILTERS["replace"](eval_ctx, value, old, new, count)


_replace_filter.jinja_pass_arg = JINJA_FILTERS["replace"].jinja_pass_arg  # type: ignore[attr-defined]


def _join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> str:
    items = list(value) if not isinstance(value, list | tuple) else value
    if len(items) > MAX_VALUE:
        raise _too_long()
    if attribute is None:
        total = sum(len(x) if isinstance(x, str) else len(str(x)) for x in items)
        if total + len(str(d)) * max(len(items) - 1, 0) > MAX_VALUE:
            raise _too_long()
    return JINJA_FILTERS["join"](eval_ctx, items, d, attribute)


_join.jinja_pass_arg = JINJA_FILTERS["join"].jinja_pass_arg  # type: ignore[attr-defined]


def _format(value: Any, *args: Any, **kwargs: Any) -> str:
    text = str(value)
    _check_printf(text)
    return JINJA_FILTERS["format"](text, *args, **kwargs)


def _count_arg(value: Any, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_LOOP:
        raise TemplateLimitError(
            _("%(filter)s: the count must be 1 to %(n)s.", filter=name, n=f"{MAX_LOOP:,}")
        )


def _batch(value: Any, linecount: int, fill_with: Any = None) -> Any:
    _count_arg(linecount, "batch")
    return list(JINJA_FILTERS["batch"](value, linecount, fill_with))


def _slice(value: Any, slices: int, fill_with: Any = None) -> Any:
    _count_arg(slices, "slice")
    return list(JINJA_FILTERS["slice"](value, slices, fill_with))


def _build_filters() -> dict[str, Any]:
    table: dict[str, Any] = {}
    replaced = {
        "center": _center,
        "indent": _indent,
        "replace": _replace_filter,
        "join": _join,
        "format": _format,
        "batch": _batch,
        "slice": _slice,
    }
    for name, func in JINJA_FILTERS.items():
        if name in {"random"}:
            continue
        table[name] = _guarded(name, replaced.get(name, func))
    for name, func in print_filters.FILTERS.items():
        table[name] = _guarded(name, func)
    table["_bounded_loop"] = _bounded_loop
    table["_emit"] = _emit
    table["_bounded_text"] = _bounded_text
    return table


def _blank_none(value: Any) -> Any:
    return "" if value is None else value


class PrintEnvironment(ImmutableSandboxedEnvironment):
    """The Jinja environment of print templates (see the module docstring)."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self) -> None:
        super().__init__(
            autoescape=True,
            undefined=PrintUndefined,
            loader=None,
            optimized=False,  # no constant folding: every expression runs under the guards
            extensions=["jinja2.ext.loopcontrols"],
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            auto_reload=False,
            # An empty value (no address, no phone) prints as nothing, never as "None".
            finalize=_blank_none,
        )
        self.filters = _build_filters()
        self.globals = {
            "range": _safe_range,
            "dict": dict,
            "cycler": Cycler,
            "joiner": Joiner,
            "namespace": Namespace,
        }

    # ---- what a template may touch -------------------------------------------------------
    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        if not callable(value) or isinstance(value, Macro | Namespace | Cycler | Joiner):
            return True
        for kind in type(obj).__mro__:
            allowed = SAFE_METHODS.get(kind)
            if allowed is not None:
                return attr in allowed
        return False

    def wrap_str_format(self, value: Any) -> None:
        # str.format / format_map are not allow-listed at all (see SAFE_METHODS).
        return None

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        state = _state.get()
        if state is not None:
            state.tick()
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if sized and _weight(seq) * max(times, 0) > MAX_VALUE:
                    raise _too_long()
            if _both_int(left, right) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise _too_big_number()
        elif operator == "**":
            if _both_int(left, right):
                if right > 0 and abs(left) > 1 and right * left.bit_length() > MAX_INT_BITS:
                    raise _too_big_number()
            elif isinstance(right, int | Decimal) and abs(right) > MAX_INT_BITS:
                raise _too_big_number()
        elif operator == "%" and isinstance(left, str):
            _check_printf(left)
        elif operator == "+":
            sized = isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple)
            if sized and _weight(left) + _weight(right) > MAX_VALUE:
                raise _too_long()
        return _check_size(self.binop_table[operator](left, right))

    # ---- parsing ----------------------------------------------------------------------------
    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        return _Guard().visit(tree)


def _weight(value: Any, budget: int = MAX_VALUE + 1) -> int:
    """How much text a value stands for: a string its length, a list or tuple the weight of
    its items (at least 1 each), however deep; stops counting past ``budget``. Repeating a list
    of long strings costs what printing it would, not its number of items."""
    if isinstance(value, str):
        return len(value)
    if not isinstance(value, list | tuple):
        return 1
    total = 0
    for item in value:
        total += max(1, _weight(item, budget - total))
        if total >= budget:
            break
    return total


def _both_int(left: Any, right: Any) -> bool:
    return (
        isinstance(left, int)
        and isinstance(right, int)
        and not isinstance(left, bool)
        and not isinstance(right, bool)
    )


_environment: PrintEnvironment | None = None
_env_lock = threading.Lock()


def environment() -> PrintEnvironment:
    """The process's print environment."""
    global _environment
    if _environment is None:
        with _env_lock:
            if _environment is None:
                _environment = PrintEnvironment()
    return _environment


# ---- the context ---------------------------------------------------------------------------


def plain_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """A checked copy of ``context`` holding plain data only (see the module docstring)."""
    if not isinstance(context, Mapping):
        raise TypeError("the print context must be a mapping")
    budget = [MAX_CONTEXT_VALUES]
    return _plain(dict(context), "", 0, budget, set())


def _plain(value: Any, path: str, depth: int, budget: list[int], active: set[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise ValueError(f"the print context holds more than {MAX_CONTEXT_VALUES} values")
    if value is None or type(value) in (bool, int, Decimal, dt.date, dt.datetime):
        return value
    if isinstance(value, str):
        return str.__str__(value) if type(value) is not str else value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, bool | int) and not isinstance(value, bool):
        return int(value)
    if depth >= MAX_CONTEXT_DEPTH:
        raise ValueError(f"the print context nests deeper than {MAX_CONTEXT_DEPTH} at {path!r}")
    if isinstance(value, Mapping | list | tuple):
        marker = id(value)
        if marker in active:
            raise ValueError(f"the print context refers to itself at {path!r}")
        active.add(marker)
        try:
            if isinstance(value, Mapping):
                out = {}
                for key, item in value.items():
                    if type(key) is not str:
                        raise TypeError(f"the print context has a non-string key at {path!r}")
                    out[key] = _plain(
                        item, f"{path}.{key}" if path else key, depth + 1, budget, active
                    )
                return out
            return [
                _plain(item, f"{path}[{index}]", depth + 1, budget, active)
                for index, item in enumerate(value)
            ]
        finally:
            active.discard(marker)
    raise TypeError(
        f"the print context may hold plain data only; {path or 'it'!s} is a {type(value).__name__}"
    )


# ---- compiling and rendering ------------------------------------------------------------------

_CACHE_SIZE = 64
_compiled: OrderedDict[str, Any] = OrderedDict()
_compiled_lock = threading.Lock()


def compile_template(source: str) -> Any:
    """The compiled template of ``source`` (cached per process by its hash)."""
    if not isinstance(source, str):
        raise TemplateError(_("The template must be text."))
    key = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
    with _compiled_lock:
        template = _compiled.get(key)
        if template is not None:
            _compiled.move_to_end(key)
            return template
    try:
        template = environment().from_string(source)
    except TemplateSyntaxError as exc:
        raise _syntax_error(exc) from None
    except RecursionError:
        raise TemplateLimitError(_("The template nests too deeply.")) from None
    template.name = TEMPLATE_NAME
    with _compiled_lock:
        _compiled[key] = template
        while len(_compiled) > _CACHE_SIZE:
            _compiled.popitem(last=False)
    return template


def _syntax_error(exc: TemplateSyntaxError) -> TemplateError:
    return TemplateError(
        _("Line %(line)d: %(detail)s", line=exc.lineno or 0, detail=exc.message or str(exc)),
        line=exc.lineno,
    )


def syntax_errors(source: str) -> list[str]:
    """Messages for what keeps ``source`` from compiling (empty when it compiles)."""
    try:
        compile_template(source)
    except TemplateError as exc:
        return [exc.message]
    return []


def _template_line(tb: Any) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _with_line(message: str, line: int | None) -> str:
    if line is None:
        return message
    return _("Line %(line)d: %(detail)s", line=line, detail=message)


def render_template(source: str, context: Mapping[str, Any], *, locale: str) -> str:
    """Fill in ``source`` with ``context`` in the sandbox; the HTML, or a TemplateError."""
    template = compile_template(source)
    data = plain_context(context)
    data["locale"] = locale
    document = data.get("document")
    currency = document.get("currency") if isinstance(document, dict) else None
    state = RenderState(
        locale=locale,
        currency=currency if isinstance(currency, str) else None,
        deadline=time.monotonic() + TIME_LIMIT,
    )
    token = _state.set(state)
    chunks: list[str] = []
    size = 0
    try:
        for chunk in template.generate(data):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateLimitError(
                    _("The document would be longer than %(n)s characters.", n=f"{MAX_OUTPUT:,}")
                )
            chunks.append(chunk)
    except TemplateError as exc:
        if exc.line is None:
            exc.line = _template_line(exc.__traceback__)
            exc.message = _with_line(exc.message, exc.line)
            exc.args = (exc.message,)
        raise
    except SecurityError as exc:
        line = _template_line(exc.__traceback__)
        raise TemplateError(
            _with_line(_("Not allowed in a print template: %(detail)s", detail=str(exc)), line),
            line=line,
        ) from None
    except UndefinedError as exc:
        line = _template_line(exc.__traceback__)
        raise TemplateError(
            _with_line(_("Unknown variable: %(detail)s", detail=str(exc)), line), line=line
        ) from None
    except RecursionError:
        raise TemplateLimitError(_("Macros call each other too deeply.")) from None
    except (TemplateNotFound, TypeError) as exc:
        line = _template_line(exc.__traceback__)
        if isinstance(exc, TemplateNotFound) or "no loader" in str(exc):
            detail = _("a print template cannot include, import or extend other templates.")
        else:
            detail = str(exc)[:300]
        raise TemplateError(
            _with_line(_("Error while filling in the template: %(detail)s", detail=detail), line),
            line=line,
        ) from None
    except (TemplateRuntimeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
        line = _template_line(exc.__traceback__)
        raise TemplateError(
            _with_line(
                _("Error while filling in the template: %(detail)s", detail=str(exc)[:300]), line
            ),
            line=line,
        ) from None
    except MemoryError:
        raise TemplateLimitError(_("The template needs too much memory.")) from None
    finally:
        _state.reset(token)
    return "".join(chunks)
