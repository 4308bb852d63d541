"""The timed work of the worker process, run by apscheduler: digests that are due (at start-up,
so a missed one goes out, then every `digest.check_every` seconds), the hourly look at members
whose delivery stopped for bounces, and the hourly look for last month's impact reports due to
groups' owners (from the 1st of each month in the group's time zone, once), and event reminders
(the day before, to members who said yes or maybe)."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Callable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Engine

from mailhub.bounces import bounce_round
from mailhub.config import Config
from mailhub.digest_jobs import queue_digests
from mailhub.events.reminders import CHECK_SECONDS as REMINDER_CHECK_SECONDS
from mailhub.events.reminders import queue_reminders
from mailhub.stats.report import queue_monthly

log = logging.getLogger(__name__)

BOUNCE_ROUND_SECONDS = 3600
REPORT_CHECK_SECONDS = 3600


def start_scheduler(engine: Engine, config: Config, on_queued: Callable[[], None]) -> BackgroundScheduler:
    """`on_queued` wakes the delivery worker when a job queued mail."""

    def run(name: str, job: Callable[[], Any]) -> Callable[[], None]:
        def step() -> None:
            try:
                job()
                on_queued()
            except Exception:  # noqa: BLE001 - tried again at the next run
                log.exception("%s failed; trying again at the next run", name)
        return step

    scheduler = BackgroundScheduler(timezone=timezone.utc)
    now = datetime.now(timezone.utc)
    scheduler.add_job(run("queuing digests", lambda: queue_digests(engine, config)),
                      IntervalTrigger(seconds=config.digest.check_every), id="digests", next_run_time=now,
                      max_instances=1, coalesce=True, misfire_grace_time=None)
    scheduler.add_job(run("the bounce round", lambda: bounce_round(engine, config)),
                      IntervalTrigger(seconds=BOUNCE_ROUND_SECONDS), id="bounces", next_run_time=now,
                      max_instances=1, coalesce=True, misfire_grace_time=None)
    scheduler.add_job(run("queuing event reminders", lambda: queue_reminders(engine, config)),
                      IntervalTrigger(seconds=REMINDER_CHECK_SECONDS), id="reminders", next_run_time=now,
                      max_instances=1, coalesce=True, misfire_grace_time=None)
    if config.report.monthly:
        scheduler.add_job(run("queuing monthly reports", lambda: queue_monthly(engine, config)),
                          IntervalTrigger(seconds=REPORT_CHECK_SECONDS), id="reports", next_run_time=now,
                          max_instances=1, coalesce=True, misfire_grace_time=None)
    scheduler.start()
    return scheduler
