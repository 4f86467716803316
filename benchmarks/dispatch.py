"""The cost of one fire: our registry against Django's robust send and regstack's bus.

Empty-bodied receivers in six mixes, next to a bare thread-sensitive hop (the target's floor).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from benchmarks.harness import (
    SETTINGS,
    AsyncOp,
    Report,
    Series,
    SyncOp,
    Target,
    frozen_heap,
    md_table,
    paired_ratio_quartiles,
    setup_django,
    text_table,
    time_async,
    time_sync,
    us,
)

OURS = "ours"
DJANGO = "Django"
REGSTACK = "regstack"
HOP = "bare hop"
OWN_HOP = "own-thread hop"


@dataclass(frozen=True)
class Mix:
    """How many sync and async receivers one event has."""

    label: str
    n_sync: int
    n_async: int

    @property
    def kinds(self) -> list[bool]:
        """``True`` for async, sync and async alternating (connection order)."""
        kinds: list[bool] = []
        s, a = self.n_sync, self.n_async
        while s or a:
            if s:
                kinds.append(False)
                s -= 1
            if a:
                kinds.append(True)
                a -= 1
        return kinds

    @property
    def has_sync(self) -> bool:
        return self.n_sync > 0


MIXES = (
    Mix("0 receivers", 0, 0),
    Mix("1 sync", 1, 0),
    Mix("10 sync", 10, 0),
    Mix("1 async", 0, 1),
    Mix("10 async", 0, 10),
    Mix("5 sync + 5 async", 5, 5),
)


class _User:
    """Stands in for regstack's user: receivers get ``user=`` as in a login."""


USER = _User()
SENDER = object()

#: One known regstack event per mix, none of them wired in ``benchmarks.settings``:
#: regstack only fires known events, and a known name is what the hot path
#: looks up (a custom name takes a slower path, measured in the profile).
EVENTS = (
    "oauth_account_linked",
    "oauth_account_unlinked",
    "phone_setup_started",
    "phone_setup_disabled",
    "email_changed",
    "mfa_enabled",
)


# Factories, so that every receiver is a distinct object: Django de-duplicates
# receivers by identity, and ten connections of one function would be one.
def _django_receiver(is_async: bool) -> Callable[..., Any]:
    if is_async:

        async def receiver(sender: object, **kwargs: Any) -> None:
            return None

        return receiver

    def sync_receiver(sender: object, **kwargs: Any) -> None:
        return None

    return sync_receiver


def _regstack_handler(is_async: bool) -> Callable[..., Any]:
    if is_async:

        async def handler(**kwargs: Any) -> None:
            return None

        return handler

    def sync_handler(**kwargs: Any) -> None:
        return None

    return sync_handler


def _trivial() -> None:
    return None


@dataclass
class MixSetup:
    """The three buses of one mix, wired with equivalent receivers."""

    mix: Mix
    index: int

    def __post_init__(self) -> None:
        from django.dispatch import Signal
        from regstack.hooks.events import HookRegistry as RegstackRegistry

        from regstack_django import HookRegistry, signals

        self.event = EVENTS[self.index]
        self.ours = HookRegistry(sender=SENDER)
        self.plain = Signal()
        self.regstack = RegstackRegistry()
        #: The thread of the ``own-thread hop`` (started on first use).
        self.own_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-own-hop")
        ours_signal = signals.signal_for(self.event)
        if ours_signal.receivers:
            raise RuntimeError(f"{self.event!r} already has receivers; the mix would be wrong")
        for is_async in self.mix.kinds:
            receiver = _django_receiver(is_async)
            ours_signal.connect(receiver, weak=False)
            self.plain.connect(receiver, weak=False)
            self.regstack.on(self.event, _regstack_handler(is_async))

    def async_ops(self) -> dict[str, AsyncOp]:
        """One loop per contender; the ``bare hop`` only where sync receivers are."""
        from asgiref.sync import SyncToAsync, sync_to_async

        event, fire, send = self.event, self.ours.fire, self.plain.asend_robust
        rs_fire = self.regstack.fire
        hop = sync_to_async(_trivial, thread_sensitive=True)
        own_hop = SyncToAsync(_trivial, thread_sensitive=False, executor=self.own_thread)

        async def ours(n: int) -> None:
            for _ in range(n):
                await fire(event, user=USER)

        async def django(n: int) -> None:
            for _ in range(n):
                await send(SENDER, user=USER)

        async def regstack(n: int) -> None:
            for _ in range(n):
                await rs_fire(event, user=USER)

        async def bare_hop(n: int) -> None:
            for _ in range(n):
                await hop()

        async def own_thread_hop(n: int) -> None:
            for _ in range(n):
                await own_hop()

        ops: dict[str, AsyncOp] = {OURS: ours, DJANGO: django, REGSTACK: regstack}
        if self.mix.has_sync:
            ops[HOP] = bare_hop
            ops[OWN_HOP] = own_thread_hop
        return ops

    def sync_ops(self) -> dict[str, SyncOp]:
        event, fire, send = self.event, self.ours.fire_sync, self.plain.send_robust

        def ours(n: int) -> None:
            for _ in range(n):
                fire(event, user=USER)

        def django(n: int) -> None:
            for _ in range(n):
                send(SENDER, user=USER)

        return {OURS: ours, DJANGO: django}


@contextmanager
def counting(loop: asyncio.AbstractEventLoop, method: str) -> Iterator[list[int]]:
    """Count calls of one of ``loop``'s methods while the block runs.

    ``run_in_executor`` counts ``sync_to_async`` thread hops; ``create_task``
    counts the tasks a fire makes (``gather``, ``TaskGroup`` and
    ``loop.create_task`` all go through it).
    """
    count = [0]
    original = getattr(loop, method)

    def counted(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return original(*args, **kwargs)

    setattr(loop, method, counted)
    try:
        yield count
    finally:
        delattr(loop, method)


@dataclass
class DispatchResult:
    """Everything :func:`run` measured."""

    rounds: int
    target_ms: float
    async_series: dict[str, dict[str, Series]] = field(default_factory=dict)
    sync_series: dict[str, dict[str, Series]] = field(default_factory=dict)
    hops: dict[str, dict[str, float]] = field(default_factory=dict)
    tasks: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0


async def _measure_async(setups: list[MixSetup], result: DispatchResult, warmup: int) -> None:
    loop = asyncio.get_running_loop()
    for setup in setups:
        ops = setup.async_ops()
        hops: dict[str, float] = {}
        tasks: dict[str, float] = {}
        for name, op in ops.items():
            await op(3)  # warm
            with (
                counting(loop, "run_in_executor") as hop_count,
                counting(loop, "create_task") as task_count,
            ):
                await op(10)
            hops[name] = hop_count[0] / 10
            tasks[name] = task_count[0] / 10
        result.hops[setup.mix.label] = hops
        result.tasks[setup.mix.label] = tasks
        result.async_series[setup.mix.label] = await time_async(
            ops,
            rounds=result.rounds,
            warmup=warmup,
            target_ms=result.target_ms,
            same_batch=(OURS, HOP, OWN_HOP),
        )


def measure(*, rounds: int, warmup: int = 3, target_ms: float = 5.0) -> DispatchResult:
    """Time every mix from async code, then from sync code (outside any loop)."""
    started = time.perf_counter()
    result = DispatchResult(rounds=rounds, target_ms=target_ms)
    setups = [MixSetup(mix, i) for i, mix in enumerate(MIXES)]
    with frozen_heap():
        asyncio.run(_measure_async(setups, result, warmup))
        for setup in setups:
            result.sync_series[setup.mix.label] = time_sync(
                setup.sync_ops(), rounds=rounds, warmup=warmup, target_ms=target_ms
            )
    result.seconds = time.perf_counter() - started
    return result


def targets(result: DispatchResult) -> list[Target]:
    """The issue's four targets, read off this run."""
    found: list[Target] = []

    def ratio(a: Series, b: Series) -> tuple[float, str]:
        q1, _, q3 = paired_ratio_quartiles(a, b)
        cpu = a.cpu_median_ns / b.cpu_median_ns
        return a.median_ns / b.median_ns, f"per-round p25-p75 {q1:.2f}-{q3:.2f}; CPU {cpu:.2f}"

    for mix in MIXES:
        s = result.async_series[mix.label]
        value, spread = ratio(s[OURS], s[DJANGO])
        found.append(Target(f"ours / Django asend_robust, {mix.label}", value, 1.0, spread))
    s = result.async_series["1 async"]
    value, spread = ratio(s[OURS], s[REGSTACK])
    found.append(Target("ours / regstack fire, 1 async", value, 1.3, spread))
    for label in ("1 sync", "10 sync"):
        s = result.async_series[label]
        value, spread = ratio(s[OURS], s[HOP])
        hops = result.hops[label][OURS]
        own = s[OURS].median_ns / s[OWN_HOP].median_ns
        found.append(
            Target(
                f"ours / bare hop, {label} from async",
                value,
                1.1,
                f"{hops:g} hop/fire; {spread}; ours / own-thread hop {own:.2f}",
                holds=hops == 1,
            )
        )
    s = result.async_series["0 receivers"]
    value, spread = ratio(s[OURS], s[REGSTACK])
    found.append(Target("ours / regstack fire, 0 receivers", value, 2.0, spread))
    return found


def _async_rows(result: DispatchResult) -> tuple[list[str], list[list[str]]]:
    headers = [
        "mix",
        "ours µs",
        "Django asend_robust µs",
        "regstack fire µs",
        "bare hop µs",
        "own-thread hop µs",
        "ours/Django",
        "ours/regstack",
        "ours/hop",
        "hops/fire (ours, Django)",
        "tasks/fire (ours, Django, regstack)",
    ]
    rows = []
    for mix in MIXES:
        s = result.async_series[mix.label]
        hop = s.get(HOP)
        hops = result.hops[mix.label]
        rows.append(
            [
                mix.label,
                us(s[OURS].median_ns),
                us(s[DJANGO].median_ns),
                us(s[REGSTACK].median_ns),
                us(hop.median_ns) if hop else "-",
                us(s[OWN_HOP].median_ns) if OWN_HOP in s else "-",
                f"{s[OURS].median_ns / s[DJANGO].median_ns:.2f}",
                f"{s[OURS].median_ns / s[REGSTACK].median_ns:.2f}",
                f"{s[OURS].median_ns / hop.median_ns:.2f}" if hop else "-",
                f"{hops[OURS]:g}, {hops[DJANGO]:g}",
                ", ".join(f"{result.tasks[mix.label][c]:g}" for c in (OURS, DJANGO, REGSTACK)),
            ]
        )
    return headers, rows


def _sync_rows(result: DispatchResult) -> tuple[list[str], list[list[str]]]:
    headers = ["mix", "ours fire_sync µs", "Django send_robust µs", "regstack", "ours/Django"]
    rows = []
    for mix in MIXES:
        s = result.sync_series[mix.label]
        rows.append(
            [
                mix.label,
                us(s[OURS].median_ns),
                us(s[DJANGO].median_ns),
                "n/a",
                f"{s[OURS].median_ns / s[DJANGO].median_ns:.2f}",
            ]
        )
    return headers, rows


def report(result: DispatchResult) -> Report:
    """Terminal text and Markdown for one run."""
    found = targets(result)
    a_headers, a_rows = _async_rows(result)
    s_headers, s_rows = _sync_rows(result)
    title = "Dispatch: one fire"
    text = "\n".join(
        [
            f"== {title} (median of {result.rounds} interleaved rounds, {result.seconds:.0f} s) ==",
            "",
            "from async code: await fire / asend_robust / regstack fire",
            text_table(a_headers, a_rows),
            "",
            "from sync code: fire_sync / send_robust (regstack has no sync fire)",
            text_table(s_headers, s_rows),
            "",
            "targets:",
            *(f"  {t.line()}" for t in found),
        ]
    )
    markdown = "\n".join(
        [
            f"Median of {result.rounds} interleaved rounds per mix (each round times a batch "
            f"of about {result.target_ms:g} ms per contender); {result.seconds:.0f} s in all. "
            "Receivers have empty bodies; every fire passes `user=<object>`. "
            "*hops/fire* counts `sync_to_async` executor submissions per fire, *tasks/fire* "
            "the asyncio tasks a fire creates (`loop.create_task`, which `gather` and "
            "`TaskGroup` use).",
            "",
            "**From async code** (`await registry.fire` vs `await signal.asend_robust` vs "
            "regstack `await hooks.fire`):",
            "",
            md_table(a_headers, a_rows),
            "",
            "**From sync code** (`registry.fire_sync` vs `signal.send_robust`; regstack has no "
            "synchronous fire):",
            "",
            md_table(s_headers, s_rows),
            "",
            "**Targets** (ratios from this run; the spread is the p25-p75 of the "
            "round-by-round ratios):",
            "",
            md_table(
                ["target", "limit", "measured", "verdict", "detail"],
                [[t.label, f"≤ {t.limit:.2f}", t.shown(), t.verdict, t.detail] for t in found],
            ),
        ]
    )
    return Report(title, text, markdown, found)


def run(*, rounds: int, target_ms: float = 5.0) -> Report:
    """Measure and report (Django must be set up)."""
    return report(measure(rounds=rounds, target_ms=target_ms))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=30, help="timed rounds per mix")
    parser.add_argument("--target-ms", type=float, default=5.0, help="length of one timed batch")
    args = parser.parse_args(argv)
    setup_django(settings=SETTINGS)
    print(run(rounds=args.rounds, target_ms=args.target_ms).text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
