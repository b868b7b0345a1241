"""API fuzz of the sharing service from its own OpenAPI document (schemathesis + hypothesis).

Used by ``tests/integration/test_sharing_fuzz.py`` (a few hundred requests in the default run)
and ``benchmarks/fuzz_sharing.py`` (10,000 and more). Each request is one schemathesis case of
any operation the document declares, in positive mode (what the schema allows) or negative
mode (what it forbids), with path parameters either generated or pinned to a real share and
table (so the handlers past the access check are reached too), sent with one of four
credentials: none, malformed, another interface's valid token, or the share's own valid token.

What must hold for every answer: no 5xx, and every 4xx is the protocol's JSON error body
(``{"errorCode": …, "message": …}``, both non-empty) that says why.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sharing_lake import Tokens

#: The credentials a fuzzed request carries (``sharing_lake.Tokens.header`` kinds).
FUZZ_KINDS = ("none", "malformed", "other", "valid")


@dataclass
class FuzzReport:
    """What a fuzz run sent and what came back."""

    requests: int = 0
    by_class: Counter = field(default_factory=Counter)
    by_operation: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        classes = ", ".join(f"{k}: {v}" for k, v in sorted(self.by_class.items()))
        return f"requests: {self.requests}; statuses: {classes}; failures: {len(self.failures)}"


def problem(status: int, body: bytes) -> str | None:
    """Why an answer breaks the service's contract, or None when it keeps it."""
    import json

    if status >= 500:
        return f"{status}: server error"
    if 400 <= status < 500:
        try:
            data = json.loads(body)
        except ValueError:
            return f"{status}: body is not JSON"
        if not isinstance(data, dict) or set(data) != {"errorCode", "message"}:
            return f"{status}: body is not the protocol's error shape"
        if not (isinstance(data["errorCode"], str) and data["errorCode"]):
            return f"{status}: empty errorCode"
        if not (isinstance(data["message"], str) and data["message"].strip()):
            return f"{status}: empty message"
    return None


def fuzz(
    origin: str,
    tokens: dict[str, Tokens],
    targets: dict[str, str],
    count: int,
    seed: int = 0,
) -> FuzzReport:
    """Send ``count`` generated requests to the service at ``origin``.

    ``targets``: interface id → a dataset it shares, whose share and table are pinned in the
    path for part of the cases; ``tokens`` holds every interface's credentials.
    """
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(f"{origin}/openapi.json")
    ids = sorted(tokens)
    strategies = []
    for mode in GenerationMode:
        strategies.append(schema.as_strategy(mode).map(lambda c: (c, None)))
        for iid, dataset in targets.items():
            pinned = {"share": iid, "schema": "default", "table": dataset}
            strategies.append(
                schema.as_strategy(mode, path_parameters=pinned).map(lambda c, i=iid: (c, i))
            )
    report = FuzzReport()
    session = requests.Session()

    @hseed(seed)
    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(pair=st.one_of(strategies), kind=st.sampled_from(FUZZ_KINDS), n=st.integers(0, 999))
    def run(pair, kind: str, n: int) -> None:
        if report.requests >= count:
            return
        case, iid = pair
        iid = iid or ids[n % len(ids)]
        other = ids[(ids.index(iid) + 1) % len(ids)]
        headers = tokens[iid].header(kind, tokens[other])
        try:
            r = case.call(base_url=origin, session=session, headers=headers, timeout=60)
        except requests.RequestException as exc:
            report.failures.append(f"{case.method} {case.formatted_path}: {exc!r}"[:500])
            return
        report.requests += 1
        report.by_class[f"{r.status_code // 100}xx"] += 1
        report.by_operation[f"{case.method} {case.operation.path}"] += 1
        why = problem(r.status_code, r.content)
        if why:
            report.failures.append(
                f"{why}: {case.as_curl_command(headers=headers)} -> {r.content[:300]!r}"
            )

    run()
    session.close()
    return report
