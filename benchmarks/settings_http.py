"""The testproject's settings for the HTTP concurrency benchmark (``benchmarks.concurrency``).

Everything of :mod:`testproject.settings`, with verification off (the client
is another process and cannot read the verification e-mails, as in
:mod:`testproject.settings_load`) and, when ``BENCH_LOGIN_RECEIVER_SECONDS``
is set, one slow sync receiver on ``user_logged_in``
(:func:`benchmarks.receivers.slow_login`), with ``"timeout":
BENCH_LOGIN_RECEIVER_TIMEOUT`` if that is set too.
"""

from __future__ import annotations

import os

from testproject.settings import *  # noqa: F403 - a settings module extends another this way
from testproject.settings import REGSTACK as _BASE_REGSTACK
from testproject.settings import REGSTACK_HOOKS as _BASE_HOOKS

REGSTACK = {**_BASE_REGSTACK, "require_verification": False}

_entry: dict[str, object] = {"handler": "benchmarks.receivers.slow_login"}
if os.environ.get("BENCH_LOGIN_RECEIVER_TIMEOUT"):
    _entry["timeout"] = float(os.environ["BENCH_LOGIN_RECEIVER_TIMEOUT"])

REGSTACK_HOOKS = dict(_BASE_HOOKS)
if os.environ.get("BENCH_LOGIN_RECEIVER_SECONDS"):
    REGSTACK_HOOKS["user_logged_in"] = [*_BASE_HOOKS.get("user_logged_in", []), _entry]

# regstack hashes with argon2 at its library defaults, on its event loop (~100 ms
# of CPU per login, more on a busy machine): 20 concurrent logins would mostly
# measure the CPU, not the receivers. The benchmark makes argon2 cheap in this
# server process only, so what a slow receiver adds to a login stands out.
if os.environ.get("BENCH_CHEAP_ARGON2"):
    import regstack.auth.password as _password
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    def _cheap_hasher(self: _password.PasswordHasher) -> None:
        self._hasher = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))

    _password.PasswordHasher.__init__ = _cheap_hasher  # type: ignore[method-assign]
