"""Count a scenario's events: accepted, delivered, lost, duplicated, and their event ids.

Accepted: the caller was told (the route answered, or the view's transaction committed); lost:
no delivery by the end of a bounded drain. Fired but unanswered events are reported apart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from support.faults.flows import Lane, mailed_tokens
from support.faults.probe import COMMITTED_EVENT
from support.faults.processes import Site


@dataclass
class Outcome:
    """One scenario's counts on one site (backend x durable)."""

    scenario: str
    backend: str
    durable: bool
    trials: int
    accepted: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    id_mismatches: int = 0
    missing_ids: int = 0
    unanswered: int = 0
    unanswered_delivered: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    lost_keys: list[str] = field(default_factory=list)

    @property
    def mode(self) -> str:
        """The probe entry counted: ``durable`` or ``today``."""
        return "durable" if self.durable else "today"

    @property
    def ok(self) -> bool:
        """The durable promise: nothing lost, every duplicate under its one event id."""
        return not self.lost and not self.id_mismatches and not self.missing_ids

    def line(self) -> str:
        mode = self.mode
        ids = f", id mismatches {self.id_mismatches}, missing ids {self.missing_ids}"
        return (
            f"{self.scenario} [{self.backend}, {mode}] {self.trials} trials: "
            f"accepted {self.accepted}, delivered {self.delivered}, lost {self.lost}, "
            f"duplicated {self.duplicated}{ids if self.durable else ''}; "
            f"unanswered {self.unanswered} (delivered {self.unanswered_delivered}); "
            f"{self.seconds:.0f} s" + (f"; {'; '.join(self.notes)}" if self.notes else "")
        )


def accepted_keys(site: Site, lanes: Iterable[Lane]) -> tuple[list[str], list[str]]:
    """``(accepted tokens, fired-but-unanswered tokens)`` of ``lanes``."""
    mailed = mailed_tokens(site.server_logs())
    accepted: list[str] = []
    unanswered: list[str] = []
    for lane in lanes:
        tokens = mailed.get(lane.email, [])
        if len(tokens) < lane.accepted:
            raise AssertionError(
                f"{lane.email}: {lane.accepted} resets answered, {len(tokens)} links e-mailed"
            )
        accepted += tokens[: lane.accepted]
        unanswered += tokens[lane.accepted :]
    return accepted, unanswered


def committed_keys(site: Site) -> list[str]:
    """Keys of the Django view's committed transactions (``AuditEvent`` rows it saved)."""
    rows = site.query("SELECT email FROM audit_auditevent WHERE event = ?", COMMITTED_EVENT)
    return [str(email).split("@", 1)[0] for (email,) in rows]


def outcomes(scenario: str, backend: str, site: Site, trials: int) -> list[Outcome]:
    """One empty :class:`Outcome` per probe entry of ``site`` (today first)."""
    return [
        Outcome(scenario, backend, mode == "durable", trials)
        for mode in ("today", "durable")
        if mode in site.modes
    ]


def count(
    outcome: Outcome,
    site: Site,
    accepted: Iterable[str],
    unanswered: Iterable[str] = (),
    others: Iterable[str] = (),
) -> Outcome:
    """Fill ``outcome`` from the site's recorded deliveries of ``accepted`` and ``unanswered``.

    ``others``: keys of the same site counted by another outcome (not strays here).
    """
    accepted = list(accepted)
    unanswered = list(unanswered)
    rows = site.deliveries(outcome.mode)
    deliveries = Counter(key for key, *_ in rows)
    ids: dict[str, set[str]] = {}
    for key, _event, event_id, _pid in rows:
        ids.setdefault(key, set()).add(event_id)
    mine = set(accepted) | set(unanswered)
    outcome.accepted = len(accepted)
    outcome.delivered = sum(1 for key in accepted if deliveries[key])
    lost = [key for key in accepted if not deliveries[key]]
    outcome.lost = len(lost)
    outcome.lost_keys = lost[:20]
    outcome.duplicated = sum(n - 1 for key, n in deliveries.items() if n > 1 and key in mine)
    outcome.unanswered = len(unanswered)
    outcome.unanswered_delivered = sum(1 for key in unanswered if deliveries[key])
    if outcome.durable:
        outcome.id_mismatches = sum(1 for k, values in ids.items() if len(values) > 1 and k in mine)
        outcome.missing_ids = sum(1 for k, _e, event_id, _p in rows if not event_id and k in mine)
    stray = set(deliveries) - set(accepted) - set(unanswered) - set(others)
    if stray:
        outcome.notes.append(f"{len(stray)} deliveries of keys nobody fired")
    return outcome
