"""The HTTP concurrency benchmark's server: the site, plus an optional slow login receiver.

``BENCH_LOGIN_RECEIVER_SECONDS`` / ``_TIMEOUT`` wire :func:`benchmarks.receivers.slow_login`;
``BENCH_CHEAP_ARGON2`` makes password hashing cheap in this process.
"""

from __future__ import annotations

import os

from benchmarks.projects.site import *  # noqa: F403 - a settings module extends another this way
from benchmarks.projects.site import REGSTACK_HOOKS as _BASE_HOOKS

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
