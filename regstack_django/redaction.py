"""A copy of an exception that tells what failed without quoting a secret, nor keeping a frame.

:func:`redacted` copies the graph (message, args, notes, members, chain) when a text or a
frame's local there holds one; each copy's traceback names the same lines without locals.
"""

from __future__ import annotations

import functools
import linecache
import types
from collections.abc import Callable, Iterator

Redact = Callable[[str], str]

#: At most this many exceptions of one graph are copied; the rest are summed up
#: in one stand-in (a pathological chain must not make logging slow).
MAX_EXCEPTIONS = 200

#: A stand-in's traceback keeps at most this many (innermost) frames.
MAX_FRAMES = 100


class RedactedError(Exception):
    """Stands in for an exception whose text held a secret.

    Its message is ``"<module>.<type>: <redacted message>"``; its traceback names
    the original's files, functions and lines, in frames that hold no locals.
    """


class RedactedErrorGroup(ExceptionGroup[Exception], RedactedError):
    """Stands in for an ``ExceptionGroup``; its members are stand-ins too."""


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return f"<unprintable {type(exc).__qualname__}>"


def _message(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return str(exc.message)
    return _safe_str(exc)


def _texts(exc: BaseException) -> Iterator[str]:
    yield _safe_str(exc)
    for arg in exc.args:
        if isinstance(arg, str):
            yield str(arg)  # a SecretURL's str() is the link itself
        elif not isinstance(arg, int | float | bool | type(None)):
            try:
                yield repr(arg)
            except Exception:
                continue
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, list | tuple):
        yield from (note for note in notes if isinstance(note, str))


def _graph(exc: BaseException) -> Iterator[BaseException]:
    """Yield ``exc``, its group members and chain links, each once, at most MAX_EXCEPTIONS."""
    seen: set[int] = set()
    stack = [exc]
    while stack and len(seen) < MAX_EXCEPTIONS:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            stack.extend(reversed(current.exceptions))
        for link in (current.__context__, current.__cause__):
            if link is not None:
                stack.append(link)


def _frames(exc: BaseException) -> Iterator[types.FrameType]:
    tb = exc.__traceback__
    while tb is not None:
        yield tb.tb_frame
        tb = tb.tb_next


def _locals_texts(exc: BaseException) -> Iterator[str]:
    """Yield the ``repr()`` of every local of the frames of ``exc``'s traceback."""
    for frame in _frames(exc):
        try:
            values = list(frame.f_locals.values())
        except Exception:
            continue
        for value in values:
            if isinstance(value, int | float | bool | type(None)) or value is exc:
                continue
            try:
                yield repr(value)
            except Exception:
                continue


def holds_secret(exc: BaseException, redact: Redact) -> bool:
    """Return whether any text, or any frame local's ``repr()``, of ``exc``'s graph changes."""
    graph = list(_graph(exc))
    if any(redact(text) != text for e in graph for text in _texts(e)):
        return True
    return any(redact(text) != text for e in graph for text in _locals_texts(e))


class _Location(Exception):
    """Raised in an empty frame made to stand where a real frame was."""


@functools.lru_cache(maxsize=512)
def _empty_frame_code(filename: str, lineno: int, name: str) -> types.CodeType:
    """Compile a ``raise`` at ``lineno``, as wide as the source line there (no stray carets)."""
    line = linecache.getline(filename, lineno)
    width, indent = len(line.strip()), len(line) - len(line.lstrip())
    statement = "raise _Location"
    if width > len(statement) + 2:
        statement = "raise (_Location" + " " * (width - len(statement) - 2) + ")"
    if indent and lineno > 1:
        source = "\n" * (lineno - 2) + "if 1:\n" + " " * indent + statement
    else:
        source = "\n" * (lineno - 1) + statement
    return compile(source, filename, "exec").replace(co_name=name)


def _empty_frame(frame: types.FrameType, lineno: int) -> types.TracebackType | None:
    """Return a traceback entry at ``lineno`` of ``frame``'s file and function, with no locals."""
    code = frame.f_code
    try:
        module_code = _empty_frame_code(code.co_filename, max(lineno, 1), code.co_name)
    except (SyntaxError, ValueError, MemoryError):
        return None
    module = frame.f_globals.get("__name__")
    scope: dict[str, object] = {"__name__": module, "__builtins__": {}, "_Location": _Location}
    try:
        exec(module_code, scope, {})  # fixed code: one raise statement
    except _Location as raised:
        entry = raised.__traceback__
        return entry.tb_next if entry is not None else None
    return None  # pragma: no cover - the code always raises


def frameless(tb: types.TracebackType | None) -> types.TracebackType | None:
    """Return a copy of ``tb`` (its innermost :data:`MAX_FRAMES`) whose frames hold no locals."""
    entries = []
    while tb is not None:
        entries.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    copied: types.TracebackType | None = None
    for frame, lineno in reversed(entries[-MAX_FRAMES:]):
        empty = _empty_frame(frame, lineno or 1)
        if empty is not None:
            copied = types.TracebackType(copied, empty.tb_frame, empty.tb_lasti, lineno or 1)
    return copied


def redacted(
    exc: BaseException,
    redact: Redact,
    error: type[RedactedError] = RedactedError,
    group: type[RedactedErrorGroup] = RedactedErrorGroup,
) -> BaseException:
    """Return ``exc`` itself if it quotes nothing ``redact`` hides, else a stand-in graph.

    Each stand-in names the original type and keeps its notes, chain links,
    ``__suppress_context__`` and a :func:`frameless` copy of its traceback; the
    originals are never modified.
    """
    if not holds_secret(exc, redact):
        return exc
    copies: dict[int, BaseException] = {}

    def copy(original: BaseException) -> BaseException:
        done = copies.get(id(original))
        if done is not None:
            return done
        name = f"{type(original).__module__}.{type(original).__qualname__}"
        if len(copies) >= MAX_EXCEPTIONS:
            return error(f"{name}: (further exceptions of this chain not shown)")
        text = f"{name}: {redact(_message(original))}"
        stand_in: RedactedError
        if isinstance(original, BaseExceptionGroup) and original.exceptions:
            placeholder = error(text)  # reserves the slot: a member may link back
            copies[id(original)] = placeholder
            members = [copy(m) for m in original.exceptions]
            stand_in = group(text, [m for m in members if isinstance(m, Exception)])
        else:
            stand_in = error(text)
        copies[id(original)] = stand_in
        stand_in.__traceback__ = frameless(original.__traceback__)
        notes = getattr(original, "__notes__", None)
        if isinstance(notes, list | tuple):
            for note in notes:
                if isinstance(note, str):
                    stand_in.add_note(redact(note))
        if original.__cause__ is not None:
            stand_in.__cause__ = copy(original.__cause__)
        if original.__context__ is not None:
            stand_in.__context__ = copy(original.__context__)
        stand_in.__suppress_context__ = original.__suppress_context__
        return stand_in

    return copy(exc)
