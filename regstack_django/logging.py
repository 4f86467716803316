"""``SecretsFilter``: a logging filter that keeps live tokens and hashes out of every log.

Other libraries log token links, OAuth codes and password hashes; put the filter on every
handler in ``LOGGING`` (docs/security.md says what it scrubs).
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import unquote_plus

from regstack_django import secrets
from regstack_django.redaction import RedactedError, redacted

__all__ = ["MIN_QUERY_VALUE_LENGTH", "SecretsFilter", "scrub", "scrub_record"]

REDACTED: Final = secrets.REDACTED

#: A query or JSON value shorter than this is left alone (``exit code=1``).
MIN_QUERY_VALUE_LENGTH: Final = 6

_KEY_SET = frozenset(secrets.SECRET_QUERY_KEYS)
_KEYS = "|".join(sorted(_KEY_SET, key=len, reverse=True))
# "=" raw or percent-encoded once or twice (a literal first: the scan is fast).
_SEP = re.compile(r"=|%3[Dd]|%253[Dd]")
# Every key contains one of these: the cheap test before looking for keys
# (tests/secrets/test_logging_filter.py scrubs each key, so a new one needs its marker).
_KEY_MARKERS = ("token", "code", "state", "nonce", "password", "secret")
_KEYS_LONGEST_FIRST = tuple(sorted(_KEY_SET, key=len, reverse=True))
# What may come right before a key: a non-word character, or an encoded "?"/"&".
_ENCODED_BEFORE = ("%3F", "%3f", "%26", "253F", "253f", "2526")
# A value ends at whitespace, a delimiter or an encoded "&".
_VALUE = re.compile(r"(?:[^\s&%#\"'<>;,()\[\]{}\\]+|%(?!(?:25)?26)[0-9A-Fa-f]{2})+")
_QUOTED = re.compile(
    rf"(?P<q>[\"'])(?:{_KEYS})(?P=q)\s*[:=]\s*(?P<vq>[\"'])(?P<value>[^\"'\\]+)(?P=vq)",
    re.IGNORECASE,
)
# An upper-case status word after "state=" (django-tasks logs "state=SUCCESSFUL"): no OAuth state.
_STATUS_WORD = re.compile(r"[A-Z]+(?:_[A-Z]+)*")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?<=Bearer )[A-Za-z0-9._~+/-]{8,}=*", re.IGNORECASE)
# Password hashes, each behind a literal that a cheap "in" test looks for first.
_HASHES = (
    ("argon2", re.compile(r"(?:\$|%24)argon2(?:id|i|d)(?:\$|%24)[A-Za-z0-9+/=$,.%]+")),
    ("2", re.compile(r"(?:\$|%24)2[abxy]?(?:\$|%24)\d\d(?:\$|%24)[./A-Za-z0-9]{8,}")),
    ("pbkdf2_", re.compile(r"pbkdf2_sha(?:1|256|512)\$[A-Za-z0-9+/=$.]+")),
    ("scrypt$", re.compile(r"scrypt\$[A-Za-z0-9+/=$.]+")),
)


def _key_before(text: str, lowered: str, end: int) -> bool:
    """Return whether one of the keys ends at ``end`` and starts a word (or an encoded pair)."""
    for key in _KEYS_LONGEST_FIRST:
        if lowered.endswith(key, 0, end):
            start = end - len(key)
            if start == 0:
                return True
            before = text[start - 1]
            return not (before.isalnum() or before == "_") or text.endswith(
                _ENCODED_BEFORE, 0, start
            )
    return False


def _scrub_query(text: str, lowered: str) -> str:
    """Redact the values of :data:`SECRET_QUERY_KEYS` after ``=`` (raw or percent-encoded)."""
    spans: list[tuple[int, int]] = []
    for sep in _SEP.finditer(text):
        if not _key_before(text, lowered, sep.start()):
            continue
        value = _VALUE.match(text, sep.end())
        if value is None or (spans and value.start() < spans[-1][1]):
            continue
        if len(unquote_plus(value.group(0))) >= MIN_QUERY_VALUE_LENGTH and not (
            _STATUS_WORD.fullmatch(value.group(0)) and lowered.endswith("state", 0, sep.start())
        ):
            spans.append(value.span())
    if not spans:
        return text
    parts, last = [], 0
    for start, end in spans:
        parts += [text[last:start], REDACTED]
        last = end
    parts.append(text[last:])
    return "".join(parts)


def _quoted_value(match: re.Match[str]) -> str:
    if len(match.group("value")) < MIN_QUERY_VALUE_LENGTH:
        return match.group(0)
    start, end = match.span("value")
    whole, offset = match.group(0), match.start()
    return whole[: start - offset] + REDACTED + whole[end - offset :]


# A run that may be hex or base64 / base64url of something longer than a token.
_ENCODED_RUN = re.compile(r"[A-Za-z0-9+/_-]{22,}={0,2}")
_HEX = re.compile(r"(?:[0-9a-f]{2})+|(?:[0-9A-F]{2})+")


def _decoded(run: str) -> str:
    """Return ``run`` decoded from hex or base64 / base64url (as Latin-1), or ``""``."""
    try:
        if _HEX.fullmatch(run):
            return bytes.fromhex(run).decode("latin-1")
        body = run.rstrip("=").replace("-", "+").replace("_", "/")
        return base64.b64decode(body + "=" * (-len(body) % 4)).decode("latin-1")
    except ValueError:
        return ""


def _scrub_recent(text: str) -> str:
    by_run, leftovers = secrets.recent.index()
    if by_run:
        decoded = text
        for _ in range(2):  # percent-encoded once or twice
            if "%" not in decoded and "+" not in decoded:
                break
            decoded = unquote_plus(decoded)
        hits = [by_run[run] for run in secrets.TOKEN_RUN.findall(decoded) if run in by_run]
        if not hits:  # hex or base64 of a longer text: decode it and look again
            for encoded in _ENCODED_RUN.findall(text):
                runs = secrets.TOKEN_RUN.findall(_decoded(encoded))
                hits += [by_run[run] for run in runs if run in by_run]
        for forms in hits:
            text = secrets.redact(text, sorted(forms, key=len, reverse=True))
    if leftovers:
        text = secrets.redact(text, leftovers)
    return text


def scrub(text: str) -> str:
    """Return ``text`` with every secret this module knows replaced by ``[REDACTED]``."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a few Unicode characters lower to two
        lowered = text
    if any(marker in lowered for marker in _KEY_MARKERS):
        if "=" in text or "%" in text:
            text = _scrub_query(text, lowered)
        if "'" in text or '"' in text:
            text = _QUOTED.sub(_quoted_value, text)
    if "eyJ" in text:
        text = _JWT.sub(REDACTED, text)
    if "earer " in lowered:
        text = _BEARER.sub(REDACTED, text)
    if "$" in text or "%24" in text:
        for marker, pattern in _HASHES:
            if marker in text:
                text = pattern.sub(REDACTED, text)
    if secrets.recent.generation:
        text = _scrub_recent(text)
    return text


#: No text shorter than this holds anything :func:`scrub` replaces (``code=``
#: plus a 6-character value is the shortest).
_SHORTEST_SECRET: Final = 5 + MIN_QUERY_VALUE_LENGTH


class _Scrubbed:
    """Stands in for a non-string log argument whose ``str``/``repr`` held a secret."""

    __slots__ = ("_repr", "_str")

    def __init__(self, as_str: str, as_repr: str) -> None:
        self._str = as_str
        self._repr = as_repr

    def __str__(self) -> str:
        return self._str

    def __repr__(self) -> str:
        return self._repr


def _scrub_argument(arg: object) -> object:
    if arg is None or isinstance(arg, bool | int | float):
        return arg
    if type(arg) is str:
        return arg if len(arg) < _SHORTEST_SECRET else scrub(arg)
    try:
        as_str, as_repr = str(arg), repr(arg)
    except Exception:
        return arg
    clean_str, clean_repr = scrub(as_str), scrub(as_repr)
    if clean_str == as_str and clean_repr == as_repr:
        return arg
    return _Scrubbed(clean_str, clean_repr)


def _scrub_arguments(args: Any) -> Any:
    if isinstance(args, tuple):
        return tuple(_scrub_argument(a) for a in args)
    if isinstance(args, Mapping):
        return {k: _scrub_argument(v) for k, v in args.items()}
    return args


_formatter = logging.Formatter()
_DONE = "regstack_django_scrubbed"


def _scrub_message(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:
        return  # a broken record: the handler reports it, and it shows no argument
    clean = scrub(message)
    if clean == message:
        return
    if record.args:
        # Keep the template and args (uvicorn's formatter reads record.args)
        # when scrubbing them one by one gives the same text.
        template = scrub(str(record.msg))
        args = _scrub_arguments(record.args)
        try:
            rendered = template % args
        except Exception:
            rendered = None
        if rendered == clean:
            record.msg, record.args = template, args
            return
    record.msg, record.args = clean, None


def _scrub_exception(record: logging.LogRecord) -> None:
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        try:
            record.exc_text = _formatter.formatException(record.exc_info)
        except Exception:
            return
    if record.exc_text:
        clean = scrub(record.exc_text)
        if clean != record.exc_text:
            record.exc_text = clean
            if record.exc_info and record.exc_info[1] is not None:
                stand_in = redacted(record.exc_info[1], scrub, RedactedError)
                record.exc_info = (type(stand_in), stand_in, stand_in.__traceback__)
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)


#: What every record has; anything else on it came from ``extra=`` (or a filter) and a
#: formatter may print it.
_FRESH = logging.LogRecord("", 0, "", 0, "", None, None).__dict__
_STANDARD: Final = frozenset(_FRESH) | {"message", "asctime", "taskName", _DONE}
_STANDARD_COUNT: Final = len(_FRESH) + 1  # and the mark of a scrubbed record


def _scrub_extra(record: logging.LogRecord) -> None:
    attributes = record.__dict__
    for name in attributes.keys() - _STANDARD:
        value = attributes[name]
        clean = scrub(value) if type(value) is str else _scrub_argument(value)
        if clean is not value and clean != value:
            attributes[name] = clean


def scrub_record(record: logging.LogRecord) -> None:
    """Scrub ``record`` in place (message, args, ``extra=`` attributes, exception, stack), once."""
    if record.__dict__.get(_DONE):
        return
    record.__dict__[_DONE] = True
    _scrub_message(record)
    if len(record.__dict__) > _STANDARD_COUNT:
        _scrub_extra(record)
    _scrub_exception(record)


class SecretsFilter(logging.Filter):
    """Scrubs live tokens and password hashes from every record a handler emits; drops none.

    Put it on every handler: a filter on a logger misses records its children propagate.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record)
        return True
