"""Periodic jobs: once per due time, whoever looks. Schedulers of their own (not the app's),
on the app's database and event loop, with the clock pinned; two schedulers stand for two
processes (tests/test_outbox_processes.py runs real ones)."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from contacts_api.jobs import JOBS, Job, Scheduler, period_start

HOURLY = timedelta(hours=1)
TEN_THIRTY = datetime(2030, 6, 1, 10, 30, tzinfo=UTC)


class Recorder:
    """A job's work: the due times it ran for, in order; fails while `failing` is set."""

    def __init__(self) -> None:
        self.due_times: list[datetime] = []
        self.failing = False

    async def __call__(self, due_at: datetime) -> None:
        self.due_times.append(due_at)
        if self.failing:
            raise OSError("connection refused")


@pytest.fixture
def schedule(client: TestClient, sync_engine: Any) -> Iterator[None]:
    """No row of the test job before or after the test."""
    with sync_engine.begin() as connection:
        connection.execute(delete(JOBS).where(JOBS.c.name == "test-job"))
    yield
    with sync_engine.begin() as connection:
        connection.execute(delete(JOBS).where(JOBS.c.name == "test-job"))


def scheduler_at(instant: list[datetime], work: Recorder) -> Scheduler:
    scheduler = Scheduler(clock=lambda: instant[0])
    scheduler.add(Job("test-job", HOURLY, work))
    return scheduler


def run_due(client: TestClient, *schedulers: Scheduler) -> list[int]:
    """Each scheduler looks once, all at the same time, on the app's loop."""
    import asyncio

    async def together() -> list[int]:
        return list(await asyncio.gather(*(s.run_due() for s in schedulers)))

    return client.portal.call(together)  # type: ignore[union-attr]


def due_at(sync_engine: Any) -> datetime:
    with sync_engine.connect() as connection:
        value: datetime = connection.execute(
            select(JOBS.c.due_at).where(JOBS.c.name == "test-job")
        ).scalar_one()
    return value


def test_due_times_are_the_multiples_of_the_period() -> None:
    job = Job("hourly", HOURLY, Recorder())
    assert period_start(job, TEN_THIRTY) == datetime(2030, 6, 1, 10, tzinfo=UTC)
    assert period_start(job, datetime(2030, 6, 1, 11, tzinfo=UTC)) == datetime(
        2030, 6, 1, 11, tzinfo=UTC
    )
    daily = Job("daily", timedelta(days=1), Recorder())
    assert period_start(daily, TEN_THIRTY) == datetime(2030, 6, 1, tzinfo=UTC)


def test_a_new_job_runs_at_once_and_then_at_each_due_time(
    client: TestClient, sync_engine: Any, schedule: None
) -> None:
    now = [TEN_THIRTY]
    work = Recorder()
    scheduler = scheduler_at(now, work)
    assert run_due(client, scheduler) == [1]
    assert work.due_times == [datetime(2030, 6, 1, 10, tzinfo=UTC)]
    assert due_at(sync_engine) == datetime(2030, 6, 1, 11, tzinfo=UTC)
    now[0] = datetime(2030, 6, 1, 10, 59, 59, tzinfo=UTC)
    assert run_due(client, scheduler) == [0]
    now[0] = datetime(2030, 6, 1, 11, 0, 1, tzinfo=UTC)
    assert run_due(client, scheduler) == [1]
    assert run_due(client, scheduler) == [0]
    assert work.due_times == [
        datetime(2030, 6, 1, 10, tzinfo=UTC),
        datetime(2030, 6, 1, 11, tzinfo=UTC),
    ]


def test_of_two_processes_looking_at_once_one_runs_each_due_time(
    client: TestClient, sync_engine: Any, schedule: None
) -> None:
    now = [TEN_THIRTY]
    work = Recorder()
    first, second = scheduler_at(now, work), scheduler_at(now, work)
    ran = []
    for hour in range(10, 16):
        now[0] = datetime(2030, 6, 1, hour, 0, 5, tzinfo=UTC)
        ran.append(sorted(run_due(client, first, second)))
    assert ran == [[0, 1]] * 6
    assert work.due_times == [datetime(2030, 6, 1, hour, tzinfo=UTC) for hour in range(10, 16)]


def test_a_service_that_was_down_for_hours_runs_the_job_once_when_back(
    client: TestClient, sync_engine: Any, schedule: None
) -> None:
    now = [TEN_THIRTY]
    work = Recorder()
    scheduler = scheduler_at(now, work)
    run_due(client, scheduler)
    now[0] = datetime(2030, 6, 1, 15, 20, tzinfo=UTC)  # 11:00 to 15:00 were missed
    assert run_due(client, scheduler) == [1]
    assert run_due(client, scheduler) == [0]
    assert work.due_times[-1] == datetime(2030, 6, 1, 11, tzinfo=UTC)
    assert due_at(sync_engine) == datetime(2030, 6, 1, 16, tzinfo=UTC)


def test_a_run_that_fails_is_tried_again_a_minute_later(
    client: TestClient, sync_engine: Any, schedule: None, caplog: pytest.LogCaptureFixture
) -> None:
    now = [TEN_THIRTY]
    work = Recorder()
    work.failing = True
    scheduler = scheduler_at(now, work)
    assert run_due(client, scheduler) == [1]
    assert due_at(sync_engine) == TEN_THIRTY + timedelta(minutes=1)
    assert (
        "Job test-job failed for 2030-06-01T10:00:00+00:00: OSError: connection refused; "
        "trying again in 0:01:00"
    ) in caplog.text
    work.failing = False
    now[0] = TEN_THIRTY + timedelta(seconds=59)
    assert run_due(client, scheduler) == [0]
    now[0] = TEN_THIRTY + timedelta(minutes=1)
    assert run_due(client, scheduler) == [1]
    assert due_at(sync_engine) == datetime(2030, 6, 1, 11, tzinfo=UTC)
