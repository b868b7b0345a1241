"""The code base stays ruff-clean (lint and format), so CI catches what pre-commit would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from enforcement_brain.settings import REPO_ROOT

RUFF = str(Path(sys.executable).parent / "ruff")


def test_ruff_check():
    proc = subprocess.run([RUFF, "check", "."], cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_ruff_format():
    proc = subprocess.run(
        [RUFF, "format", "--check", "."], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout
