"""Declarations: loaded, cross-checked, and bad ones refused with file and entry named."""

from __future__ import annotations

import shutil

import pytest

from enforcement_brain.declarations import load_catalog
from enforcement_brain.errors import DeclarationError
from enforcement_brain.settings import REPO_ROOT


def test_repository_declarations_load():
    catalog = load_catalog(REPO_ROOT / "data_standards")
    assert set(catalog.sources) >= {"wim_weighings", "anpr_passes", "enforcement_cases"}
    assert "overload_alerts" in catalog.datasets
    assert catalog.standard_version.startswith("DES-")


@pytest.fixture
def standards(tmp_path):
    root = tmp_path / "data_standards"
    shutil.copytree(REPO_ROOT / "data_standards", root)
    return root


def _edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "sources/wim_weighings.yaml",
            "element: plate_no,",
            "element: plate_number,",
            r"wim_weighings.yaml \(source wim_weighings\): column plate_no: "
            r"unknown element 'plate_number'",
        ),
        (
            "quality/rules.yaml",
            "id: R_AXLE_RANGE",
            "id: R_PLATE_FORMAT",
            r"rules.yaml: duplicate rule id 'R_PLATE_FORMAT'",
        ),
        (
            "quality/rules.yaml",
            "pattern: PLATE_ANY_RE",
            "pattern: '[unclosed'",
            r"rule R_PLATE_FORMAT: regex does not compile",
        ),
        (
            "sources/anpr_passes.yaml",
            "rules: [R_PLATE_FORMAT",
            "rules: [R_NO_SUCH_RULE, R_PLATE_FORMAT",
            r"anpr_passes.yaml \(source anpr_passes\): unknown rule 'R_NO_SUCH_RULE'",
        ),
        (
            "interfaces/provincial_supervision.yaml",
            "plate_no: plate",
            "plate_no: scramble",
            r"unknown mask 'scramble' for column plate_no",
        ),
    ],
)
def test_bad_declarations_name_file_and_entry(standards, file, old, new, message):
    _edit(standards / file, old, new)
    load_catalog.cache_clear()
    with pytest.raises(DeclarationError, match=message):
        load_catalog(standards)
