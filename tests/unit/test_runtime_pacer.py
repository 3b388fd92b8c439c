import asyncio

import pytest

from hermes.actors.runtime_pacer import StartPacer


async def admitted_by_iteration(pacer: StartPacer, count: int) -> list[list[int]]:
    """Start ``count`` turns at once; which of them pass in each loop iteration, in order."""
    iterations: list[list[int]] = [[]]
    done = 0

    async def turn(index: int) -> None:
        nonlocal done
        await pacer.admit()
        iterations[-1].append(index)
        done += 1

    tasks = [asyncio.create_task(turn(index)) for index in range(count)]
    while done < count:
        await asyncio.sleep(0)  # one loop iteration
        iterations.append([])
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
    return [batch for batch in iterations if batch]


def test_a_burst_begins_a_few_turns_per_iteration_in_order() -> None:
    async def scenario() -> list[list[int]]:
        return await admitted_by_iteration(StartPacer(asyncio.get_running_loop(), 4), 10)

    batches = asyncio.run(scenario())
    assert all(len(batch) <= 4 for batch in batches)
    assert [index for batch in batches for index in batch] == list(range(10))
    assert len(batches) >= 3


def test_a_cancelled_waiter_gives_its_place_to_the_next() -> None:
    async def scenario() -> list[str]:
        pacer = StartPacer(asyncio.get_running_loop(), 1)
        passed: list[str] = []

        async def turn(name: str) -> None:
            await pacer.admit()
            passed.append(name)

        first = asyncio.create_task(turn("first"))
        second = asyncio.create_task(turn("second"))
        third = asyncio.create_task(turn("third"))
        await asyncio.sleep(0)  # all three asked; only the first passed
        second.cancel()
        await asyncio.wait_for(asyncio.gather(first, third), timeout=5)
        assert second.cancelled()
        return passed

    assert asyncio.run(scenario()) == ["first", "third"]


def test_turns_alone_pass_at_once() -> None:
    async def scenario() -> int:
        pacer = StartPacer(asyncio.get_running_loop(), 2)
        for _ in range(5):
            await pacer.admit()
            await asyncio.sleep(0)
        return 5

    assert asyncio.run(asyncio.wait_for(scenario(), timeout=5)) == 5


def test_the_budget_must_be_positive() -> None:
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError, match="at least 1"):
            StartPacer(loop, 0)
    finally:
        loop.close()
