"""Turn this run's measurements into the doc's "why is it missed" notes.

Computed from the same run's numbers, never written by hand, so a note never quotes stale figures.
"""

from __future__ import annotations

import os

from benchmarks.dispatch import DJANGO, HOP, MIXES, OURS, REGSTACK, DispatchResult
from benchmarks.harness import Target
from benchmarks.memory import MemoryResult
from benchmarks.profile import ProfileResult
from support.machine import load_average


def _busy() -> bool:
    try:
        one_minute = float(load_average().split(" / ")[0])
    except ValueError:
        return False
    return one_minute > (os.cpu_count() or 1)


def _django_groups() -> str:
    """How this Django's ``asend_robust`` runs the two groups (it changed in 6.x)."""
    from django.dispatch import dispatcher

    if hasattr(dispatcher, "_run_parallel"):
        return (
            "this Django's `asend_robust` awaits its sync group's hop first, then runs the "
            "async receivers in a `TaskGroup`"
        )
    return (
        "this Django's `asend_robust` gathers its sync group's hop with an inner `gather` "
        "of the async receivers"
    )


def _mix_of(target: Target) -> str:
    label = target.label.rsplit(", ", 1)[-1].removesuffix(" from async")
    if label not in {mix.label for mix in MIXES}:  # pragma: no cover - labels are ours
        raise ValueError(target.label)
    return label


def _counts(dispatch: DispatchResult, label: str, contender: str) -> str:
    hops = dispatch.hops[label][contender]
    tasks = dispatch.tasks[label][contender]
    return f"{hops:g} hop{'s' if hops != 1 else ''} and {tasks:g} task{'s' if tasks != 1 else ''}"


def _dispatch_note(target: Target, dispatch: DispatchResult, profile: ProfileResult) -> str:
    label = _mix_of(target)
    mix = next(m for m in MIXES if m.label == label)
    series = dispatch.async_series[label]
    against = (
        HOP if "bare hop" in target.label else REGSTACK if "regstack" in target.label else DJANGO
    )
    ours, other = series[OURS], series[against]
    excess = (ours.median_ns - other.median_ns) / 1000
    cpu_ratio = ours.cpu_median_ns / other.cpu_median_ns
    p = profile.us
    head = (
        f"ours takes {ours.median_ns / 1000:.1f} µs per fire, {excess:+.1f} µs against "
        f"{other.name} ({other.median_ns / 1000:.1f} µs; CPU-time ratio {cpu_ratio:.2f})."
    )
    if mix.n_sync == 0 and mix.n_async == 0:
        return (
            f"{head} The fast paths alone: ours {p('ours_0_known'):.2f} µs, Django "
            f"{p('django_0'):.2f} µs, regstack {p('regstack_0'):.2f} µs; an empty `await` "
            f"is {p('await_empty'):.2f} µs. Ours tests `fire_observers`, looks the Signal up "
            "by name and tests `signal.receivers`."
        )
    if against == HOP:
        group = p("sync_group_10") if mix.n_sync == 10 else p("sync_group_1")
        check_cost = 2 * p("close_stale")
        parts = {
            "the fire's own bookkeeping (the 0-receiver path)": p("ours_0_known"),
            f"`Signal._live_receivers` ({mix.n_sync} receiver{'s' if mix.n_sync > 1 else ''})": (
                p("live_10") if mix.n_sync == 10 else p("live_1")
            ),
            f"calling the {mix.n_sync} receiver{'s' if mix.n_sync > 1 else ''}": group,
            "the connection checks before and after them (no connection open)": check_cost,
        }
        listed = "; ".join(f"{name} {value:.1f} µs" for name, value in parts.items())
        rest = excess - sum(parts.values())
        return (
            f"{head} Both make {_counts(dispatch, label, OURS)} per fire. The excess, part by "
            f"part: {listed}; remainder {rest:+.1f} µs. The parts are timed in a hot loop; "
            "in the hop the same code runs cold, right after the worker thread wakes up "
            "(possibly on the other core), which is most of the remainder, with noise. The "
            "floor runs one trivial function; ours also calls its receivers, so with many "
            "receivers this target mostly measures their calls."
        )
    theirs = _counts(dispatch, label, against)
    groups = _django_groups() if against == DJANGO else ""
    checks = (
        f", the connection checks around a hop 2 x {p('close_stale'):.2f} µs" if mix.n_sync else ""
    )
    return (
        f"{head} Per fire ours makes {_counts(dispatch, label, OURS)}, {other.name} {theirs}; "
        f"one task costs about {p('task_1'):.1f} µs and one `gather` of one coroutine "
        f"{p('gather_1'):.1f} µs here{checks}."
        + (f" {groups[0].upper()}{groups[1:]}." if groups else "")
    )


def explain(
    dispatch: DispatchResult | None,
    profile: ProfileResult | None,
    memory: MemoryResult | None,
    targets: list[Target],
) -> str:
    """Markdown bullets, one per missed target (and a load caveat), or ``""``."""
    notes: list[str] = []
    for target in targets:
        if target.met:
            continue
        over = (target.measured / target.limit - 1) * 100
        head = (
            f"- **{target.label}**: {target.shown()}, {over:.1f}% over "
            f"{target.limit:g}{target.unit}."
        )
        if target.label.startswith("request"):
            notes.append(
                f"{head} The in-request fire time includes the thread hop and the async "
                "receivers; see the Dispatch and Profile tables for their parts."
            )
        elif dispatch is None or profile is None:
            notes.append(f"{head} Run the dispatch and profile parts for a breakdown.")
        else:
            notes.append(f"{head} {_dispatch_note(target, dispatch, profile)}")
    if memory is not None:
        for phase in memory.phases:
            if phase.flat:
                continue
            cause = ""
            if any("dispatcher.py" in line for line in phase.top) and "ready" in phase.name:
                cause = (
                    " Django 5.2's `Signal.connect()` creates a `weakref.finalize` for every "
                    "*weak* receiver before it checks `dispatch_uid`, so connecting a weak "
                    "receiver again in `ready()` registers one more finalizer per call even "
                    "though the receiver stays connected once; `weak=False` (or connecting "
                    "once) avoids it."
                )
            notes.append(
                f"- **memory, {phase.name}**: {phase.per_op:+.1f} bytes per call "
                f"({phase.halves[0]:+,} then {phase.halves[1]:+,} bytes over the two "
                f"halves), top line `{phase.top[0] if phase.top else 'n/a'}`.{cause}"
            )
    if notes and _busy():
        notes.append(
            f"- The load average was above the core count ({load_average()}): wall-time "
            "ratios of mixes that hop threads mostly measure the scheduler; the CPU-time "
            "ratios in the target details are the steadier reading."
        )
    return "\n".join(notes)
