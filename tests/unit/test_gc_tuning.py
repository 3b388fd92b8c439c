import gc
from collections.abc import Iterator

import pytest

from hermes.gc_tuning import YOUNG_THRESHOLD, tune_gc


@pytest.fixture
def restore_thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    try:
        yield before
    finally:
        gc.set_threshold(*before)


def test_only_the_young_threshold_is_raised(restore_thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(700, 7, 9)
    tune_gc()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 7, 9)
    assert gc.isenabled()
