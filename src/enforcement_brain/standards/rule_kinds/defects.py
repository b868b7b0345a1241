"""Texts that break a rule the way real feeds break it: the raw material of planted defects.

They live with the rule kinds because each is the inverse of a check: a value made here must be
rejected by the rule it is planted for, and a change to the check is reviewed next to them. The
hand-written WIM, ANPR and case generators plant the same plates and times.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

from enforcement_brain.standards.checks import is_valid_plate

if TYPE_CHECKING:
    import numpy as np


def bad_time_value(rng: np.random.Generator, day: dt.date) -> str:
    """A timestamp no parser with the declared pattern ``yyyy-MM-dd HH:mm:ss`` accepts."""
    # Never blank: a blank time is a missing value (R_REQUIRED_PRESENT), not a bad one.
    s = int(rng.integers(0, 86_400))
    choices = (
        f"{day.year}-13-45 25:61:00",
        f"{day.isoformat()} 25:61:00",
        f"{day.year}-02-30 {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}",
        "0000-00-00 00:00:00",
    )
    return choices[int(rng.integers(0, len(choices)))]


def bad_plate_value(rng: np.random.Generator, plate: str) -> str:
    """A malformed variant of ``plate`` (never ``-``, which is a legitimate value).

    The variants are the ones recognition and keying errors produce: I or O in the serial, a
    character lost or doubled, lower case, a province character that is not one.
    """
    base = plate if len(plate) >= 7 else "苏C12345"
    for _ in range(20):
        kind = int(rng.integers(0, 5))
        if kind == 0:  # I/O where a 1/0 should be
            pos = int(rng.integers(2, len(base)))
            bad = base[:pos] + "IO"[int(rng.integers(0, 2))] + base[pos + 1 :]
        elif kind == 1:  # a character lost
            pos = int(rng.integers(2, len(base)))
            bad = base[:pos] + base[pos + 1 :]
        elif kind == 2:  # a character doubled
            pos = int(rng.integers(2, len(base)))
            bad = base[:pos] + base[pos] + base[pos:]
        elif kind == 3:  # lower case office letter
            bad = base[0] + base[1].lower() + base[2:]
        else:  # the city's name keyed instead of the province character
            bad = "徐" + base[1:]
        if not is_valid_plate(bad):
            return bad
    return base[:3] + "I" + base[4:]  # unreachable in practice; still invalid


def break_regex(value: str, pattern: str, rng: np.random.Generator) -> str:
    """``value`` edited (a character lost or added, a suffix) until ``pattern`` rejects it."""
    for _ in range(30):
        pos = int(rng.integers(0, max(1, len(value))))
        choice = int(rng.integers(0, 3))
        if choice == 0:
            bad = value[:pos] + value[pos + 1 :]
        elif choice == 1:
            bad = value[:pos] + "O" + value[pos:]
        else:
            bad = value + "-X"
        if re.fullmatch(pattern, bad) is None and bad.strip():
            return bad
    return "??" + value
