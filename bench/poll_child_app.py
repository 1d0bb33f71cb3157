"""The ``poll`` benchmark's console child: event-loop stalls while a poll runs.

``python -m bench.poll_child_app DB_URL STORE USERNAME PASSWORD ROUNDS``

Runs ``WboApp`` headless at 160x48 on the benchmark database.  The auto pilot logs in
(fills the login form, presses Enter) and waits for the shell (``bench.child_common``);
then, ROUNDS times: it changes the upstream's balances (not measured), measures the
longest stall of an idle second, then runs ``app.engine.poll_positions`` on the app's own
event loop while a monitor task sleeps 1 ms in a loop and records how late it wakes up.
Prints one JSON line (``BENCH-POLL {...}``) for the parent.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.child_common import measure, run_console
from bench.poll import MARKS_PREFIX

IDLE_S = 1.0
result: dict[str, Any] = {"polls": []}


def make_steps(store: str, rounds: int):  # noqa: ANN201
    async def steps(pilot) -> None:  # noqa: ANN001 - textual.pilot.Pilot
        from bench import poll_db
        from wbo_tui.engine.upstream.simulator import SimulatedUpstream

        app = pilot.app
        await pilot.pause(0.2)
        accounts = [tuple(a) for a in json.loads((Path(store).parent / "accounts.json").read_text())]
        bank = SimulatedUpstream(store)
        try:
            for r in range(rounds + 1):
                await bank.set_balances(poll_db.balances_for_round(accounts, 100 + r))
                run = await measure(IDLE_S, lambda r=r: app.engine.poll_positions(
                    slot=f"bench:app:{r}:{time.time_ns()}", holder=poll_db.HOLDER))
                if r == 0:
                    continue  # warm-up
                result["polls"].append({"longest_stall_s": run.stall_s, "poll_s": run.elapsed_s,
                                        "idle_stall_s": run.idle_stall_s, "level_changes": run.value.level_changes,
                                        "accounts_ok": run.value.accounts_ok})
        finally:
            bank.close()

    return steps


def main(argv: list[str]) -> None:
    from wbo_tui.config import Settings

    db_url, store, username, password, rounds = argv
    run_console(Settings(db_url=db_url), username, password, make_steps(store, int(rounds)),
                prefix=MARKS_PREFIX, result=result)


if __name__ == "__main__":
    main(sys.argv[1:])
