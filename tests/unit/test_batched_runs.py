"""The main job's view of DAGs that take several runs a day (GX validation on any load)."""

from __future__ import annotations

from enforcement_brain.orchestration.stack import DagRunState, _batched_state, _covered, phases


class Results:
    """The part of AirflowStack the batched-run logic asks: each run's task result."""

    def __init__(self, validated: dict[str, list[str]]) -> None:
        self.validated = validated
        self.asked: list[str] = []

    def task_result(self, dag_id: str, run_id: str, task_id: str) -> dict:
        assert (dag_id, task_id) == ("validate_silver", "validate")
        self.asked.append(run_id)
        return {"validated": self.validated.get(run_id, [])}

    def task_wait(self, dag_id: str, run_id: str) -> float:
        return 1.5

    def task_error(self, dag_id: str, run_id: str) -> str:
        return f"{run_id} failed"


def _run(run_id: str, state: str, start: str = "", end: str = "") -> dict:
    return {
        "dag_id": "validate_silver",
        "dag_run_id": run_id,
        "state": state,
        "start_date": start,
        "end_date": end,
    }


def test_the_day_is_covered_when_the_runs_together_validated_every_loaded_source():
    stack = Results({"v1": ["a"], "v2": ["b", "c"]})
    loaded = {"a", "b", "c"}
    results: dict = {}
    first = [_run("v1", "success")]
    assert not _covered(stack, "validate_silver", first, loaded, results)  # b, c not yet
    running = [*first, _run("v2", "running")]
    assert not _covered(stack, "validate_silver", running, loaded, results)
    both = [*first, _run("v2", "success")]
    assert _covered(stack, "validate_silver", both, loaded, results)
    assert stack.asked == ["v1", "v2"]  # a finished run's result is asked once
    failed = [*first, _run("v2", "failed")]
    assert _covered(stack, "validate_silver", failed, loaded, {})  # a failure ends the wait


def test_the_runs_of_a_day_are_reported_as_one():
    stack = Results({"v1": ["a"], "v2": ["b"]})
    runs = [
        _run("v2", "success", "2026-12-04T10:00:40+00:00", "2026-12-04T10:01:00+00:00"),
        _run("v1", "success", "2026-12-04T10:00:00+00:00", "2026-12-04T10:00:30+00:00"),
    ]
    state = _batched_state(stack, "validate_silver", runs, {})
    assert (state.run_id, state.state, state.seconds, state.wait_seconds) == (
        "v2",
        "success",
        50.0,
        3.0,
    )
    assert (state.start, state.end) == (runs[1]["start_date"], runs[0]["end_date"])
    assert state.result == {"runs": 2, "validated": ["a", "b"]}
    runs[1]["state"] = "failed"
    failed = _batched_state(stack, "validate_silver", runs, {})
    assert (failed.state, failed.run_id, failed.error) == ("failed", "v1", "v1 failed")


def test_phases_tell_how_long_validation_went_on_after_the_rest():
    def run(dag_id: str, start: str, end: str) -> DagRunState:
        return DagRunState(dag_id, "r", "success", 1.0, start=f"{start}+00:00", end=f"{end}+00:00")

    day = "2026-12-04T10:00"
    runs = [
        run("ingest_a", f"{day}:00", f"{day}:30"),
        run("validate_silver", f"{day}:31", f"{day}:50"),
        run("publish_x", f"{day}:31", f"{day}:40"),
    ]
    assert phases(runs) == {
        "ingest": 30.0,
        "validate": 19.0,
        "publish": 9.0,
        "validation after the rest": 10.0,
    }
    runs[-1] = run("publish_x", f"{day}:31", f"{day}:55")
    assert phases(runs)["validation after the rest"] == 0.0
