"""The secret values of one fire, in every form they travel in.

Three events carry a live single-use credential in ``url``
(:data:`SECRET_EVENTS`), and every ``user`` carries an argon2 hash. A
receiver's exception, a log line or a traceback can quote them raw, as the
token alone (what a receiver that parses the link holds), or percent-encoded
(``?next=<link>`` in an HTTP client's error). This module knows those forms:

* :class:`SecretURL` is what receivers get as ``url``: a ``str`` (the real
  link, so sending the e-mail works, and ``isinstance(url, str)`` holds) whose
  ``repr()`` is redacted, so nothing that renders a frame's locals or a dict
  of kwargs shows the token. :func:`guard` wraps it once, at fire entry;
* :func:`secret_forms` lists the strings to redact for one fire's kwargs;
* :data:`recent` remembers the last tokens fired, for
  :class:`regstack_django.logging.SecretsFilter` to find them in other
  libraries' records.

Values shorter than :data:`MIN_SECRET_LENGTH` are never substring-replaced:
a test hash ``"x"`` must not turn ``a@example.com`` into ``a@e[REDACTED]ample.com``.
"""

from __future__ import annotations

import collections
import itertools
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

from regstack_django.events import SECRET_KWARGS

REDACTED: Final = "[REDACTED]"

#: The events whose ``url`` is a live single-use credential.
SECRET_EVENTS: Final[frozenset[str]] = frozenset(
    {"verification_requested", "password_reset_requested", "email_change_requested"}
)

#: A value shorter than this is never redacted by substring: too short to be a
#: real secret (regstack's tokens are 43+ characters, argon2 hashes ~97), and
#: replacing it would mangle unrelated text.
MIN_SECRET_LENGTH: Final = 16

#: Query keys whose values are credentials, wherever they appear in a URL: the
#: fallback when ``url_without_token`` does not say where the token is, and the
#: list :class:`~regstack_django.logging.SecretsFilter` scrubs.
SECRET_QUERY_KEYS: Final = (
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "pending_token",
    "mfa_pending_token",
    "code",
    "code_verifier",
    "state",
    "nonce",
    "password",
    "client_secret",
)


class SecretURL(str):
    """A live token link: the real link as a string, redacted as a ``repr()``.

    ``str(url)``, f-strings, ``%s``, concatenation and e-mail templates see the
    real link. ``repr(url)`` (tracebacks with locals, Django's error page,
    Sentry, ``%r``, a dict of kwargs printed whole) shows ``url_without_token``
    or, when regstack did not pass one, ``[REDACTED]``. String methods return
    plain ``str``: a slice of the link is just text, redacted by value.
    """

    redacted: str

    def __new__(cls, value: str, redacted: str | None = None) -> SecretURL:
        self = super().__new__(cls, value)
        # Shown only if it looks like regstack's redaction of this very link.
        usable = isinstance(redacted, str) and REDACTED in redacted and str(value) not in redacted
        self.redacted = str(redacted) if usable and redacted is not None else REDACTED
        return self

    def __repr__(self) -> str:
        return repr(self.redacted)

    def __reduce__(self) -> tuple[Any, ...]:
        return (SecretURL, (str(self), self.redacted))


#: The links fired most recently (bounded; ``deque.append`` is thread-safe),
#: and a counter that moves on each append so readers know to re-index.
recent: collections.deque[tuple[str, str | None]] = collections.deque(maxlen=256)
_appended = itertools.count(1)
recent_generation = 0


def guard(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` of a secret event, with ``url`` as a :class:`SecretURL`.

    Called once at fire entry, only for :data:`SECRET_EVENTS` (the caller tests
    membership). Also records the link in :data:`recent`; the tokens are
    derived from it later, only if a :class:`SecretsFilter` asks.
    """
    url = kwargs.get("url")
    if not isinstance(url, str) or isinstance(url, SecretURL):
        return kwargs
    without = kwargs.get("url_without_token")
    without = without if isinstance(without, str) else None
    wrapped = dict(kwargs)
    wrapped["url"] = SecretURL(url, without)
    recent.append((str(url), without))
    global recent_generation
    recent_generation = next(_appended)
    return wrapped


def tokens_of(url: str, url_without_token: str | None) -> list[str]:
    """The credential(s) inside ``url``: what it has that ``url_without_token`` lacks.

    regstack builds ``url_without_token`` by replacing the token (raw and
    percent-encoded) with ``[REDACTED]``, wherever the host's URL template put
    it (query, path segment, fragment), so lining the two up finds it. Without
    a usable ``url_without_token``, the values of :data:`SECRET_QUERY_KEYS` in
    the query and fragment are taken instead.
    """
    found: list[str] = []
    if url_without_token and REDACTED in url_without_token:
        parts = [re.escape(p) for p in url_without_token.split(REDACTED)]
        match = re.fullmatch("(.+?)".join(parts), url, re.DOTALL)
        if match:
            found = [g for g in dict.fromkeys(match.groups()) if g]
    if not found:
        split = urlsplit(url)
        for query in (split.query, split.fragment.partition("?")[2] or split.fragment):
            for key, value in parse_qsl(query, keep_blank_values=False):
                if key.lower() in SECRET_QUERY_KEYS and value:
                    found.append(value)
    return [t for t in dict.fromkeys(found) if len(t) >= MIN_SECRET_LENGTH]


def forms_of(secret: str) -> list[str]:
    """``secret`` as it may be quoted: raw, percent-encoded, form-encoded, doubly encoded."""
    once = quote(secret, safe="")
    return list(
        dict.fromkeys((secret, quote(secret), once, quote_plus(secret), quote(once, safe="")))
    )


def secret_forms(kwargs: Mapping[str, Any]) -> list[str]:
    """Every string to redact for one fire, longest first.

    The whole ``url`` and its token(s) (:func:`tokens_of`), the user's
    ``hashed_password``, each in all of :func:`forms_of`; values shorter than
    :data:`MIN_SECRET_LENGTH` are left out.
    """
    values: list[str] = []
    without = kwargs.get("url_without_token")
    without = str(without) if isinstance(without, str) else None
    for name in SECRET_KWARGS:
        url = kwargs.get(name)
        if isinstance(url, str) and url:
            values.append(str(url))
            values.extend(tokens_of(str(url), without))
    hashed = getattr(kwargs.get("user"), "hashed_password", None)
    if isinstance(hashed, str):
        values.append(hashed)
    return _longest_first(
        form for v in values if len(v) >= MIN_SECRET_LENGTH for form in forms_of(v)
    )


def _longest_first(forms: Iterable[str]) -> list[str]:
    return sorted(dict.fromkeys(forms), key=len, reverse=True)


def redact(text: str, forms: Iterable[str]) -> str:
    """``text`` with each of ``forms`` (longest first) replaced by ``[REDACTED]``."""
    for form in forms:
        if form in text:
            text = text.replace(form, REDACTED)
    return text


def recent_tokens() -> list[str]:
    """The tokens of the links in :data:`recent`, newest last."""
    tokens: list[str] = []
    for url, without in _snapshot():
        tokens.extend(tokens_of(url, without))
    return list(dict.fromkeys(tokens))


def _snapshot() -> tuple[tuple[str, str | None], ...]:
    """A copy of :data:`recent`, retried if another thread appended meanwhile."""
    for _ in range(5):
        try:
            return tuple(recent)
        except RuntimeError:  # deque mutated during iteration
            continue
    return ()
