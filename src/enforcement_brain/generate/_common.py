"""Pieces every source generator shares: seeded streams, time strings, defect picking, delivery.

Determinism is the point of this module. Every random stream is derived from a hash of
``(seed, day, source, purpose)``, never from the global state or the clock, so a day regenerates
to the same bytes whatever else ran before it; and the clean data of a source and its injected
defects come from *different* streams, so changing the defect rate changes which rows are broken
but not what the clean rows say.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from enforcement_brain.declarations import Source
from enforcement_brain.errors import DeclarationError

#: Share of clean rows whose event time falls on the previous day (delivered late, loaded).
LATE_SHARE = 0.002
#: Share of clean camera rows with an unreadable plate, written ``-`` (legitimate).
UNRECOGNISED_SHARE = 0.005
#: Fewest rows a file source delivers per day, however small the scale.
MIN_ROWS = 5

#: "HH:MM:SS" for every second of a day, so time columns are built by indexing, not formatting.
HMS = np.array(
    [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)], dtype=object
)
#: Relative traffic by local hour (index 0 = 00:00-00:59). Trucks run late evening and early
#: morning (urban truck bans by day); cars peak in the commutes.
TRUCK_HOURS = np.array(
    [4.0, 3.4, 3.0, 2.8, 3.2, 4.4, 5.6, 6.0, 5.6, 5.0, 4.8, 4.6,
     4.2, 4.2, 4.6, 4.8, 4.8, 4.6, 4.4, 4.8, 5.2, 5.4, 5.0, 4.4]
)  # fmt: skip
CAR_HOURS = np.array(
    [0.6, 0.4, 0.3, 0.3, 0.4, 0.9, 2.5, 5.5, 6.5, 5.2, 4.8, 4.8,
     4.5, 4.4, 4.6, 4.8, 5.2, 6.2, 6.4, 5.2, 4.2, 3.2, 2.2, 1.3]
)  # fmt: skip


def rng_for(seed: int, *parts: object) -> np.random.Generator:
    """A generator seeded from a SHA-256 of ``seed`` and ``parts`` (e.g. day, source, purpose).

    Hashing rather than ``seed + day.toordinal()`` so that neighbouring days and sources get
    unrelated streams, and adding a purpose never shifts an existing stream.
    """
    text = "|".join(str(p) for p in (seed, *parts))
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return np.random.default_rng(np.random.SeedSequence(int.from_bytes(digest[:16], "big")))


def rows_for(expected_daily_rows: int, scale: float) -> int:
    """Rows a file source delivers at ``scale``: linear, with a floor of :data:`MIN_ROWS`."""
    return max(MIN_ROWS, round(expected_daily_rows * scale))


def hour_seconds(rng: np.random.Generator, n: int, profile: np.ndarray) -> np.ndarray:
    """``n`` seconds-of-day drawn from an hourly traffic profile, uniform inside the hour."""
    hours = rng.choice(24, size=n, p=profile / profile.sum())
    return hours * 3600 + rng.integers(0, 3600, size=n)


def time_strings(day: dt.date, seconds: np.ndarray) -> np.ndarray:
    """``yyyy-MM-dd HH:mm:ss`` local-time strings; negative seconds fall on the previous day."""
    today = f"{day.isoformat()} "
    yesterday = f"{(day - dt.timedelta(days=1)).isoformat()} "
    prefix = np.where(seconds < 0, yesterday, today).astype(object)
    return prefix + HMS[np.mod(seconds, 86_400)]


#: Tenths 0.0 .. 300.0 as strings, for speeds.
_TENTHS = np.array([f"{t // 10}.{t % 10}" for t in range(3_001)], dtype=object)


def tenths_strings(tenths: np.ndarray) -> np.ndarray:
    """Decimal strings with one decimal for integer tenths (e.g. 635 -> ``63.5``)."""
    inside = (tenths >= 0) & (tenths <= 3_000)
    out = _TENTHS[np.clip(tenths, 0, 3_000)]
    for i in np.flatnonzero(~inside):
        out[i] = f"{tenths[i] / 10:.1f}"
    return out


def unknown_code(rng: np.random.Generator, prefix: str, known: frozenset[str]) -> str:
    """A well-formed code ``prefix`` + 3 digits that the code table does not know."""
    while True:
        code = f"{prefix}{int(rng.integers(50, 1000)):03d}"
        if code not in known:
            return code


def pick_labels(
    rng: np.random.Generator,
    n_rows: int,
    defect_rate: float,
    kinds: Sequence[str],
    late_rng: np.random.Generator | None = None,
    exclude: np.ndarray | None = None,
    minimum: int = 0,
) -> np.ndarray:
    """Label rows: ``""`` clean, ``"late"`` (with ``late_rng``), or one defect kind per row.

    Exactly ``round(defect_rate * n_rows)`` rows (at least ``minimum`` when the rate is not 0) get a
    defect, drawn from rows that are neither
    late nor in ``exclude`` (rows another source or the ground truth relies on being clean).
    Kinds are dealt round-robin from a shuffled list, so every kind appears once there are at
    least as many defects as kinds. Late rows come from their own stream, so the same rows are
    late whatever the defect rate.
    """
    labels = np.full(n_rows, "", dtype=object)
    blocked = np.zeros(n_rows, dtype=bool) if exclude is None else exclude.copy()
    if late_rng is not None:
        late = late_rng.random(n_rows) < LATE_SHARE
        labels[late] = "late"
        blocked |= late
    free = np.flatnonzero(~blocked)
    n_def = round(defect_rate * n_rows)
    if defect_rate > 0:
        n_def = max(n_def, minimum)
    n_def = min(len(free), n_def)
    if n_def:
        rows = rng.choice(free, size=n_def, replace=False)
        dealt = np.resize(rng.permutation(np.array(kinds, dtype=object)), n_def)
        labels[rows] = rng.permutation(dealt)
    return labels


@dataclass(frozen=True)
class TruthRow:
    """One line of the ground truth: a defective (or late) delivered row."""

    source: str
    business_key: str
    file: str
    line: int | None
    defect: str
    rule: str = ""  # the rule that must flag the row ("" when the generator does not say)


def ordered(source: Source, values: dict[str, Any]) -> list[Any]:
    """``values`` in the source's declared column order; a declared column the generator cannot
    make fails loudly, so a changed declaration never yields files with missing columns."""
    missing = [n for n in source.column_names if n not in values]
    if missing:
        raise DeclarationError(
            f"{source.path}: the generator has no values for column(s) {', '.join(missing)}"
        )
    return [values[n] for n in source.column_names]


def write_atomic(path: Path, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` (in ``encoding``) to a temporary sibling, then rename it into place.

    A reader (the pipeline's landing scan) never sees a half-written delivery, and a rerun
    replaces the file in one step.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding=encoding, newline="\n") as fh:
        fh.write(text)
    os.replace(tmp, path)
