"""A copy of an exception that tells what failed without quoting a secret.

A secret can sit in the message, ``args``, notes, group members or the cause/context
chain; :func:`redacted` copies the whole graph only when some text there holds one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

Redact = Callable[[str], str]

#: At most this many exceptions of one graph are copied; the rest are summed up
#: in one stand-in (a pathological chain must not make logging slow).
MAX_EXCEPTIONS = 200


class RedactedError(Exception):
    """Stands in for an exception whose text held a secret.

    Its message is ``"<module>.<type>: <redacted message>"``; it keeps the
    original traceback, so a log still says where the failure happened.
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


def holds_secret(exc: BaseException, redact: Redact) -> bool:
    """Return whether any text of ``exc``'s graph changes under ``redact``."""
    return any(redact(text) != text for e in _graph(exc) for text in _texts(e))


def redacted(
    exc: BaseException,
    redact: Redact,
    error: type[RedactedError] = RedactedError,
    group: type[RedactedErrorGroup] = RedactedErrorGroup,
) -> BaseException:
    """Return ``exc`` itself if it quotes nothing ``redact`` hides, else a stand-in graph.

    Each stand-in names the original type and keeps its traceback, notes, chain
    links and ``__suppress_context__``; the originals are never modified.
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
        stand_in.__traceback__ = original.__traceback__
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
