"""Fault trials: kill, freeze and restart the testproject's real processes, count the events.

The harness behind ``tests/project/test_faults.py`` (smoke tests in the default
run, the long trials under ``@pytest.mark.trials``) and ``benchmarks/faults.py``
(the failure table of ``docs/background.md``):

* :mod:`.settings` / :mod:`.probe` / :mod:`.urls`: the testproject as the
  trials run it: one background probe entry (``include_secrets``, so each
  event carries a unique token to count it by; ``durable`` when
  ``TESTPROJECT_DURABLE=1``) that records every delivery it finishes, and a
  Django view that fires inside ``atomic()`` and can die right after COMMIT;
* :mod:`.processes`: the site (uvicorn, workers, relay, redis-server) with
  start / stop / kill / freeze helpers, every process killed at teardown;
* :mod:`.flows`: the HTTP load (regstack's forgot-password route, lanes of
  one user each), what was accepted (answered) and what fired;
* :mod:`.scenarios`: the trial loops, each bounded in count and time, ending
  in a bounded drain and a :class:`~.counting.Outcome`;
* :mod:`.counting`: accepted / delivered / lost / duplicated, event ids;
* :mod:`.table`: the Markdown failure table.
"""

from __future__ import annotations
