"""The bench's W3 ratio: never ``nan``; a window too short to time says so."""

from __future__ import annotations

from bench.run import MIN_WINDOW, ratio_text, window_ratio


def test_steady_steps_give_a_ratio_of_one() -> None:
    stamps = [i * 0.001 for i in range(1000)]
    ratio = window_ratio(stamps)
    assert ratio is not None and abs(ratio - 1) < 0.02


def test_a_window_under_the_timestamp_resolution_is_not_measured() -> None:
    stamps = [0.0] * 5 + [0.0005 * i for i in range(5)]  # ten steps inside one millisecond
    assert window_ratio(stamps) is None
    assert "not measured" in ratio_text(None) and "nan" not in ratio_text(None)
    assert ratio_text(1.234) == "1.23"


def test_windows_just_long_enough_are_timed() -> None:
    stamps = [i * MIN_WINDOW for i in range(20)]
    ratio = window_ratio(stamps)
    assert ratio is not None and abs(ratio - 1) < 1e-6
