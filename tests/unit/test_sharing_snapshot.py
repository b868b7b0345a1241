"""The share tables' snapshot cache: per version, and never stale across a re-created table."""

from __future__ import annotations

import shutil

import pyarrow as pa
from deltalake import write_deltalake

from enforcement_brain.sharing.delta_log import ShareTable


def test_snapshots_follow_new_versions_and_recreated_tables(tmp_path):
    root = tmp_path / "share" / "iface__dataset"
    write_deltalake(str(root), pa.table({"a": [1, 2]}))
    st = ShareTable(root)
    first = st.snapshot()
    assert st.snapshot() is first  # the same version is answered from memory
    assert (first.version, sum(f.num_records for f in first.files)) == (0, 2)

    write_deltalake(str(root), pa.table({"a": [3]}), mode="append")
    second = st.snapshot()
    assert (second.version, sum(f.num_records for f in second.files)) == (1, 3)
    assert st.snapshot(0) is first  # time travel to a cached version

    shutil.rmtree(root)  # dropped and re-created: its versions start again at 0
    write_deltalake(str(root), pa.table({"b": ["x"]}))
    again = ShareTable(root).snapshot()
    assert again.version == 0 and again is not first
    assert '"b"' in again.schema_string and '"a"' not in again.schema_string


def test_a_snapshot_is_peeked_from_memory_only_once_read(tmp_path) -> None:
    """The metadata endpoint answers on the event loop only from memory: ``cached_snapshot``
    never reads the log, so before a first ``snapshot()`` it has nothing, after it the same
    object, and after a new commit nothing again until that version is read."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from enforcement_brain.sharing.delta_log import ShareTable

    root = tmp_path / "t"
    write_deltalake(str(root), pa.table({"x": [1]}))
    st = ShareTable(root)
    assert st.cached_snapshot() is None
    snap = st.snapshot()
    assert st.cached_snapshot() is snap
    write_deltalake(str(root), pa.table({"x": [2]}), mode="append")
    assert st.cached_snapshot() is None
    assert st.snapshot().version == 1


def test_the_log_is_listed_again_only_when_it_may_have_changed(tmp_path, monkeypatch) -> None:
    """A listing is reused while the log folder's mtime is unchanged and was taken well after
    it; a listing taken in the same clock tick as the last change is never trusted, so a
    commit that left the coarse mtime as it was is still seen."""
    import os

    root = tmp_path / "t"
    write_deltalake(str(root), pa.table({"x": [1]}))
    log = root / "_delta_log"
    listed: list[str] = []
    real_listdir = os.listdir

    def counting_listdir(path):
        listed.append(str(path))
        return real_listdir(path)

    monkeypatch.setattr("enforcement_brain.sharing.delta_log.os.listdir", counting_listdir)
    st = ShareTable(root)

    old = log.stat().st_mtime_ns - 10**10  # a change 10 s ago
    os.utime(log, ns=(old, old))
    assert st.commit_versions() == [0] and st.commit_versions() == [0]
    assert len(listed) == 1  # reused: nothing changed since
    write_deltalake(str(root), pa.table({"x": [2]}), mode="append")
    assert st.commit_versions() == [0, 1]  # the folder changed: listed again
    assert len(listed) == 2

    # The racy case: listed in the same tick as the last change, then a commit that did not
    # move the mtime (a coarse clock). The listing was too fresh to trust: listed again.
    now = log.stat().st_mtime_ns
    os.utime(log, ns=(now, now))
    fresh = time_ns_after(now)
    monkeypatch.setattr("enforcement_brain.sharing.delta_log.time.time_ns", lambda: fresh)
    assert st.commit_versions() == [0, 1]
    write_deltalake(str(root), pa.table({"x": [3]}), mode="append")
    os.utime(log, ns=(now, now))
    assert st.commit_versions() == [0, 1, 2]


def time_ns_after(stamp: int) -> int:
    """A clock reading 1 ms after ``stamp``: inside the window where a listing is untrusted."""
    return stamp + 1_000_000
