"""Owned background tasks and the loop's clock (collab/tasks.py)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from collab.tasks import LoopClock, TaskSet


async def test_a_task_is_held_while_it_runs_and_let_go_when_it_ends():
    tasks = TaskSet()
    gate = asyncio.Event()
    task = tasks.spawn(gate.wait(), name="waiting")
    assert len(tasks) == 1 and task.get_name() == "waiting"
    gate.set()
    await task
    assert len(tasks) == 0


async def test_idle_waits_for_the_tasks_started_meanwhile():
    tasks = TaskSet()
    done: list[str] = []

    async def second() -> None:
        done.append("second")

    async def first() -> None:
        await asyncio.sleep(0)
        tasks.spawn(second())
        done.append("first")

    tasks.spawn(first())
    await asyncio.wait_for(tasks.idle(), timeout=5)
    assert done == ["first", "second"] and len(tasks) == 0


async def test_cancel_all_cancels_every_task_and_waits_for_them():
    tasks = TaskSet()
    forever = [tasks.spawn(asyncio.Event().wait()) for _ in range(3)]
    await tasks.cancel_all()
    assert all(task.cancelled() for task in forever) and len(tasks) == 0


async def test_a_failed_task_is_logged_with_its_name_and_traceback(caplog: pytest.LogCaptureFixture):
    async def fail() -> None:
        raise RuntimeError("boom")

    tasks = TaskSet()
    with caplog.at_level(logging.ERROR, logger="collab.tasks"):
        task = tasks.spawn(fail(), name="doomed")
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0)  # the done callback runs after the awaiters
    [record] = [r for r in caplog.records if r.name == "collab.tasks"]
    assert "doomed" in record.getMessage() and record.exc_info is not None


async def test_the_loop_clock_is_the_loops_time_and_its_timers():
    clock = LoopClock()
    fired = asyncio.Event()
    assert clock.now() == pytest.approx(asyncio.get_running_loop().time(), abs=0.5)
    clock.call_later(0, fired.set)
    cancelled = clock.call_later(0, pytest.fail, "a cancelled timer fired")
    cancelled.cancel()
    await asyncio.wait_for(fired.wait(), timeout=5)
