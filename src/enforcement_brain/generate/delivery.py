"""Turn a source's rows into delivered files: ordering, duplicates, broken lines, ground truth.

WIM (CSV) and ANPR (JSON lines) differ only in how a row becomes a line and how a line breaks;
the rest - which file a row goes to, where a duplicate copy lands, which physical line every
labelled row ends up on - is the same and lives here, so the ground truth's line numbers are
computed in exactly one place.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from enforcement_brain.declarations import Source
from enforcement_brain.generate._common import TruthRow

#: A duplicate copy arrives this many seconds (at most) after its original, in the same file.
DUPLICATE_DELAY_S = 600


@dataclass
class FileDelivery:
    """One source's delivery for a day, ready to write: file name -> text, plus its ground truth."""

    source: str
    folder: str  # relative to the landing root, e.g. "wim_weighings/2026-11-29"
    pattern: str  # the declaration's delivery pattern, for pruning stale files
    texts: dict[str, str]
    rows: int
    truth: list[TruthRow] = field(default_factory=list)
    defects: Counter[str] = field(default_factory=Counter)
    late: int = 0
    encoding: str = "utf-8"


def json_template(source: Source) -> str:
    """A ``str.format`` template for one JSON line with the declared keys in declared order.

    Strings are quoted, ``int``/``double`` columns are bare JSON numbers. Values are written
    unescaped: every generated value is drawn from controlled alphabets without quotes or
    backslashes, and building lines this way is several times faster than ``json.dumps``.
    """
    parts = []
    for col in source.columns:
        value = "{}" if col.type in ("int", "bigint", "double") else '"{}"'
        parts.append(f'"{col.name}":{value}')
    return "{{" + ",".join(parts) + "}}"  # doubled braces are literal in str.format


def assemble(
    *,
    source: Source,
    folder: str,
    file_names: list[str],
    columns: list[np.ndarray],
    file_of: np.ndarray,
    key: np.ndarray,
    labels: np.ndarray,
    business_key: np.ndarray,
    rng: np.random.Generator,
    rules: dict[int, str] | None = None,
) -> FileDelivery:
    """Build the files of one delivery and the ground truth pointing into them.

    ``columns`` hold the final text of every field in declared order (corrupted where a defect
    says so); ``file_of`` and ``key`` say which file a row goes to and its order inside it;
    ``labels`` is "" for a clean row or a defect kind or ``late``. A row labelled ``duplicate``
    is delivered clean and an exact copy of it, labelled ``duplicate``, is added later in the same
    file. A ``broken_line`` row is written damaged: a CSV line loses its last fields, a JSON line
    is cut short (so it no longer parses, and its key is lost with it).
    """
    fmt = source.delivery.format
    if fmt == "csv":
        lines = np.array([",".join(fields) for fields in zip(*columns, strict=True)], dtype=object)
    elif fmt == "jsonl":
        template = json_template(source)
        lines = np.array(
            [template.format(*row) for row in zip(*columns, strict=True)], dtype=object
        )
    else:  # a declaration the generator cannot deliver
        raise ValueError(f"{source.id}: cannot generate delivery format {fmt!r}")

    business_key = business_key.copy()
    # An unexpected field: the source system started sending a column nobody declared.
    for i in np.flatnonzero(labels == "unexpected_column"):
        if fmt == "jsonl":
            lines[i] = lines[i][:-1] + ',"ext_remark":"新增字段"}'
    for i in np.flatnonzero(labels == "broken_line"):
        line = lines[i]
        if fmt == "csv":
            fields = line.split(",")
            lines[i] = ",".join(fields[: len(fields) - int(rng.integers(2, 5))])
        else:
            lines[i] = line[: int(rng.integers(10, len(line) - 1))]
            business_key[i] = ""

    dup = np.flatnonzero(labels == "duplicate")
    base_labels = np.where(labels == "duplicate", "", labels)
    all_lines = np.concatenate([lines, lines[dup]])
    all_file = np.concatenate([file_of, file_of[dup]])
    all_key = np.concatenate([key, key[dup] + rng.integers(1, DUPLICATE_DELAY_S, len(dup))])
    all_labels = np.concatenate([base_labels, np.full(len(dup), "duplicate", dtype=object)])
    all_bkey = np.concatenate([business_key, business_key[dup]])
    rule_of = rules or {}
    all_rule = np.array(
        [rule_of.get(i, "") for i in range(len(lines))] + [""] * len(dup), dtype=object
    )
    order = np.lexsort((np.arange(len(all_lines)), all_key, all_file))

    header = ",".join(source.column_names) + "\n" if fmt == "csv" else ""
    first_line = 2 if header else 1
    texts: dict[str, str] = {}
    truth: list[TruthRow] = []
    bounds = np.searchsorted(all_file[order], np.arange(len(file_names) + 1))
    for f, name in enumerate(file_names):
        rows = order[bounds[f] : bounds[f + 1]]
        body = "\n".join(all_lines[rows])
        texts[name] = header + body + ("\n" if len(rows) else "")
        for pos in np.flatnonzero(all_labels[rows] != ""):
            r = rows[pos]
            truth.append(
                TruthRow(
                    source.id,
                    all_bkey[r],
                    f"{folder}/{name}",
                    first_line + int(pos),
                    all_labels[r],
                    all_rule[r],
                )
            )
    counts = Counter(t.defect for t in truth)
    late = counts.pop("late", 0)
    counts.pop("out_of_order", None)
    return FileDelivery(
        source=source.id,
        folder=folder,
        pattern=source.delivery.pattern,
        texts=texts,
        rows=len(all_lines),
        truth=truth,
        defects=counts,
        late=late,
    )
