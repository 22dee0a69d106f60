"""Run a function on a cron schedule inside the server: Astronomer's cleanup cron job, without a CronJob.

Every replica runs its own schedule; the job itself must be safe when several replicas fire at the same moment
(the services' cleanup is). A failing run is logged and the schedule goes on: the next run retries naturally.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from croniter import croniter

from airpool.domain.errors import ConfigError

log = logging.getLogger("airpool.api.scheduler")


def check_schedule(expression: str) -> str:
    if not croniter.is_valid(expression):
        raise ConfigError(
            f"cleanup schedule {expression!r} is not a cron expression (five fields, e.g. '0 5 * * *' for 05:00 daily)"
        )
    return expression


class CronThread:
    """A daemon thread calling ``job`` at each time ``schedule`` names (UTC)."""

    def __init__(self, *, name: str, schedule: str, job: Callable[[], object]) -> None:
        self.name = name
        self.schedule = check_schedule(schedule)
        self._job = job
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0

    def next_run(self, after: datetime) -> datetime:
        fire: datetime = croniter(self.schedule, after).get_next(datetime)
        return fire

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Idempotent; waits for a run in progress to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = datetime.now(UTC)
            fire = self.next_run(now)
            if self._stop.wait(timeout=max(0.0, (fire - now).total_seconds())):
                return
            try:
                result = self._job()
                log.info("%s ran: %s", self.name, result)
            except Exception:
                log.exception("%s failed; the next scheduled run will try again", self.name)
            self.runs += 1
