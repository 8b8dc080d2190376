"""Demand shapes over the calendar: day of the week and a seasonal curve through twelve
monthly factors, shared by the fit, the sample generator and the twin."""

from __future__ import annotations

import numpy as np

#: day of the year (0-based, 365-day year) of each month's middle
_MONTH_STARTS = np.array([0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365])
MONTH_MID = (_MONTH_STARTS[:-1] + _MONTH_STARTS[1:]) / 2.0


def weekday(days: np.ndarray | int) -> np.ndarray:
    """0 = Monday for days since 1970-01-01 (a Thursday)."""
    return (np.asarray(days, dtype=np.int64) + 3) % 7


def month(days: np.ndarray) -> np.ndarray:
    """0..11 for days since 1970-01-01."""
    d = np.asarray(days, dtype="datetime64[D]")
    return (d.astype("datetime64[M]").astype(np.int64) % 12).astype(np.int64)


def day_of_year(days: np.ndarray) -> np.ndarray:
    """0-based day of the year, on a 365-day year (31 December of a leap year is day 364)."""
    d = np.asarray(days, dtype="datetime64[D]")
    doy = (d - d.astype("datetime64[Y]")).astype(np.int64)
    leap = _is_leap(d.astype("datetime64[Y]").astype(np.int64) + 1970)
    return np.where(leap & (doy >= 59), np.maximum(doy - 1, 59), doy).clip(0, 364)


def _is_leap(year: np.ndarray) -> np.ndarray:
    return (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))


def season_curve(month_factors: np.ndarray, days: np.ndarray) -> np.ndarray:
    """The seasonal factor on each day: the twelve monthly factors placed at the middle of
    their month and joined by straight lines, round the year (December to January)."""
    f = np.asarray(month_factors, dtype=float)
    x = np.concatenate([[MONTH_MID[-1] - 365.0], MONTH_MID, [MONTH_MID[0] + 365.0]])
    y = np.concatenate([[f[-1]], f, [f[0]]])
    return np.interp(day_of_year(days).astype(float), x, y)


def shape(dow: np.ndarray, month_factors: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Day-of-week × seasonal factor on each day."""
    return np.asarray(dow, dtype=float)[weekday(days)] * season_curve(month_factors, days)
