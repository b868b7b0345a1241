"""The analyst queries of docs/analyst-queries.md, for the tests that check and run them."""

from __future__ import annotations

import re

from enforcement_brain.settings import REPO_ROOT


def analyst_queries() -> list[str]:
    """The ```sql blocks of docs/analyst-queries.md, in order."""
    text = (REPO_ROOT / "docs" / "analyst-queries.md").read_text(encoding="utf-8")
    return [b.strip() for b in re.findall(r"```sql\n(.*?)```", text, flags=re.S)]
