"""The secret values of one fire (a token link, a password hash) in every form they travel in.

Receivers get ``url`` as a :class:`SecretURL`; :data:`recent` remembers the links fired
last, for :class:`~regstack_django.logging.SecretsFilter` (docs/security.md).
"""

from __future__ import annotations

import base64
import collections
import html
import itertools
import json
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

#: A run of URL-safe base64: how a token looks once percent-decoding is undone.
TOKEN_RUN: Final = re.compile(rf"[A-Za-z0-9_-]{{{MIN_SECRET_LENGTH},}}")

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
    """A live token link: the real link as a ``str``, redacted as a ``repr()``.

    ``repr()`` shows ``url_without_token``, or ``[REDACTED]`` when regstack passed
    none. String methods return plain ``str``: a slice is just text.
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


class RecentLinks:
    """The token links fired last (bounded), and their tokens indexed for a log filter.

    ``add`` is thread-safe (a deque append) and moves ``generation`` on; a reader
    that finds it moved rebuilds the index, so a fire never derives tokens itself.
    """

    __slots__ = ("_counter", "_index", "_links", "generation", "maxlen")

    def __init__(self, maxlen: int = 256) -> None:
        self.maxlen = maxlen
        self.generation = 0
        self._links: collections.deque[tuple[str, str | None]] = collections.deque(maxlen=maxlen)
        self._counter = itertools.count(1)
        self._index: tuple[int, dict[str, list[str]], list[str]] = (0, {}, [])

    def add(self, url: str, url_without_token: str | None) -> None:
        """Remember one fired link."""
        self._links.append((url, url_without_token))
        self.generation = next(self._counter)

    def tokens(self) -> list[str]:
        """Return the tokens of the remembered links, newest last."""
        found: list[str] = []
        for url, without in self._snapshot():
            found.extend(tokens_of(url, without))
        return list(dict.fromkeys(found))

    def index(self) -> tuple[dict[str, list[str]], list[str]]:
        """Return the tokens' forms keyed by their longest :data:`TOKEN_RUN`, and the rest."""
        generation = self.generation
        if self._index[0] != generation:
            by_run: dict[str, list[str]] = {}
            leftovers: list[str] = []
            for token in self.tokens():
                forms = forms_of(token)
                # Any run of any form finds them all (base64 and hex share no run with the token).
                runs = {run for form in forms for run in TOKEN_RUN.findall(form)}
                for run in runs:
                    by_run.setdefault(run, []).extend(forms)
                if not runs:
                    leftovers.extend(forms)
            self._index = (generation, by_run, leftovers)
        return self._index[1], self._index[2]

    def _snapshot(self) -> tuple[tuple[str, str | None], ...]:
        for _ in range(5):
            try:
                return tuple(self._links)
            except RuntimeError:  # another thread appended meanwhile
                continue
        return ()


#: The links fired in this process, for :class:`~regstack_django.logging.SecretsFilter`.
recent: Final = RecentLinks()


def guard(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Return a secret event's ``kwargs`` with ``url`` as a :class:`SecretURL`, and remember it.

    Called once at fire entry, only for :data:`SECRET_EVENTS`.
    """
    url = kwargs.get("url")
    if not isinstance(url, str) or isinstance(url, SecretURL):
        return kwargs
    without = kwargs.get("url_without_token")
    without = without if isinstance(without, str) else None
    wrapped = dict(kwargs)
    wrapped["url"] = SecretURL(url, without)
    recent.add(str(url), without)
    return wrapped


def tokens_of(url: str, url_without_token: str | None) -> list[str]:
    """Return the credential(s) in ``url``: what it has that ``url_without_token`` lacks.

    regstack puts ``[REDACTED]`` where the token was, wherever the URL template
    put it, so lining the two up finds it. Without a usable ``url_without_token``,
    take the values of :data:`SECRET_QUERY_KEYS` in the query and fragment.
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
    """Return every form ``secret`` may be quoted in (docs/security.md)."""
    once = quote(secret, safe="")
    escaped = (secret, quote(secret), once, quote_plus(secret), quote(once, safe=""))
    lowered = tuple(_lower_escapes(form) for form in escaped)
    texts = (json.dumps(secret)[1:-1], html.escape(secret), html.escape(secret, quote=False))
    return list(dict.fromkeys((*escaped, *lowered, *texts, *encoded(secret))))


def _lower_escapes(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


def encoded(secret: str) -> list[str]:
    """Return the hex and base64 / base64url forms of ``secret`` (UTF-8).

    Base64 of a longer text that contains the secret depends on where it starts in a
    3-byte group: for each of the three offsets, the characters only the secret
    determines are a form too (a few characters at either end may stay).
    """
    raw = secret.encode()
    forms = [raw.hex(), raw.hex().upper()]
    for offset in range(3):
        padded = b"\0" * offset + raw
        for b64 in (base64.b64encode(padded), base64.urlsafe_b64encode(padded)):
            text = b64.decode()
            if offset == 0:
                forms += [text, text.rstrip("=")]
            start = 4 if offset else 0  # the first group mixes the secret with what precedes it
            end = (len(padded) // 3) * 4  # the last partial group mixes it with what follows
            if end - start >= MIN_SECRET_LENGTH:
                forms.append(text[start:end])
    return forms


def secret_forms(kwargs: Mapping[str, Any]) -> list[str]:
    """Return every string to redact for one fire, longest first.

    The whole ``url``, its token(s) and the user's ``hashed_password``, each in
    all of :func:`forms_of`, if at least :data:`MIN_SECRET_LENGTH` long.
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
    """Return ``text`` with each of ``forms`` (longest first) replaced by ``[REDACTED]``."""
    for form in forms:
        if form in text:
            text = text.replace(form, REDACTED)
    return text
