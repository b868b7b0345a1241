"""The identifier checks, overload rules and code tables of the data standard.

Credit-code and ID checks are compared with python-stdnum, an independent implementation, on a
few hundred random values: a bug shared by our check and our generator cannot hide that way.
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

import numpy as np
import pytest
from stdnum.cn import ric, uscc

from enforcement_brain.errors import DeclarationError
from enforcement_brain.generate.fleet import make_credit_code, make_id_number
from enforcement_brain.standards import checks
from enforcement_brain.standards.checks import (
    CREDIT_CODE_ALPHABET,
    PLATE_ANY_RE,
    credit_code_check_char,
    fine_yuan,
    gross_limit_kg,
    id_check_char,
    is_bai_dun_wang,
    is_road_train,
    is_shuang_bai,
    is_station_limit_explained,
    is_valid_credit_code,
    is_valid_id_number,
    is_valid_plate,
)
from enforcement_brain.standards.code_tables import list_code_tables, load_code_table

STANDARDS = Path(__file__).resolve().parents[2] / "data_standards"
XUZHOU_BBOX = (116.366, 118.667, 33.716, 34.967)  # lon min, lon max, lat min, lat max


# -- plates --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "plate",
    [
        "苏C12345",  # ordinary, Xuzhou
        "苏CA1234",
        "鲁QB2C3D",
        "皖L1234挂",  # trailer
        "苏C1234学",  # coach
        "粤Z1234港",
        "苏CD12345",  # small NEV, pure electric
        "苏CFA1234",  # small NEV, other energy, a letter after the energy letter
        "苏C12345D",  # large NEV
        "苏A0123警",  # police
        "224001使",  # embassy: embassy code, serial, 使
        "沪A1234领",  # consulate
        "苏A1234试",  # test vehicle
        "WJ苏12345",  # armed police, provincial corps
        "WJ苏1234B",  # armed police, a service letter last
        "WJ12345",  # armed police headquarters: no province
        "苏X1234应急",  # emergency rescue, fire-and-rescue team
        "京12345应急",  # emergency rescue, the ministry's own: no team letter
        "-",  # unrecognised: a legitimate value
    ],
)
def test_valid_plates(plate: str) -> None:
    assert is_valid_plate(plate)


@pytest.mark.parametrize(
    "plate",
    [
        "",
        None,
        "苏C1234",  # 6 characters
        "苏C123456",  # 8 characters, not NEV
        "苏CI2345",  # I is never used
        "苏C1O345",  # nor O
        "苏c12345",  # lower case office letter
        "徐C12345",  # not a province character
        "苏112345",  # office must be a letter
        "苏CZ12345",  # Z is not an energy letter
        "苏C1234Z5",
        "苏C12345\n",  # fullmatch: a trailing newline is not a plate
        "--",
        "苏C12345挂",  # 挂 replaces the last serial character, it is not added
        "使A12345",  # 使 and 领 are not province characters
        "领A12345",
        "使224001",  # 使 comes last
        "22400使",
        "沪A12345领",
        "苏A12345试",
        "WJ苏1234",
        "WJ使12345",
        "苏A1234应急",  # A is not a rescue-team code (X fire and rescue, S forest fire)
        "苏X123应急",
    ],
)
def test_invalid_plates(plate: str | None) -> None:
    assert not is_valid_plate(plate)


def test_regexes_use_the_python_java_common_subset() -> None:
    """The constants go to Spark rlike (Java regex) too: no \\d, no named groups, anchored."""
    for name in dir(checks):
        if name.endswith("_RE"):
            pattern = getattr(checks, name)
            re.compile(pattern)
            assert "\\d" not in pattern and "(?P" not in pattern, name
            assert pattern.startswith("^") and pattern.endswith("$"), name
    assert len(checks.PROVINCE_CHARS) == 31 == len(set(checks.PROVINCE_CHARS))
    assert re.fullmatch(PLATE_ANY_RE, "-") is None  # "-" is handled apart from the format


def test_every_plate_form_is_declared_once_with_source_and_examples() -> None:
    """Each declared form accepts its valid examples and the union rejects its invalid ones."""
    forms = checks.PLATE_FORMS
    names = [f.name for f in forms]
    assert len(names) == len(set(names))
    assert {
        "ordinary", "nev_small", "nev_large", "embassy", "consulate", "test_vehicle",
        "armed_police", "emergency",
    } == set(names)  # fmt: skip
    for form in forms:
        assert form.source and form.name_zh and form.valid and form.invalid, form.name
        assert form.pattern.startswith("^") and form.pattern.endswith("$"), form.name
        for plate in form.valid:
            assert re.fullmatch(form.pattern, plate), (form.name, plate)
            assert is_valid_plate(plate), (form.name, plate)
        for plate in form.invalid:
            assert not re.fullmatch(form.pattern, plate), (form.name, plate)
            assert not is_valid_plate(plate), (form.name, plate)
    assert "^(?:" + "|".join(f.pattern[1:-1] for f in forms) + ")$" == PLATE_ANY_RE


@pytest.mark.parametrize("form", checks.PLATE_FORMS, ids=lambda f: f.name)
def test_plate_form_template_fills_to_the_form(form: checks.PlateForm) -> None:
    """The generator fills each form's template; every filling is a plate of that form."""
    from enforcement_brain.generate.fleet import fill_plate_template

    rng = np.random.default_rng(7)
    for plate in fill_plate_template(rng, form.template, 200):
        assert re.fullmatch(form.pattern, plate), (form.name, plate)


# -- credit code (GB 32100) ----------------------------------------------------------------------
def test_credit_code_known_values() -> None:
    assert is_valid_credit_code("91110000600037341L")  # stdnum's documented example
    assert credit_code_check_char("91110000600037341") == "L"
    for bad in (
        "91110000600037341M",  # wrong check character
        "91110000600037341",  # 17 characters
        "91110000600O37341L",  # O is not in the alphabet
        "91110000600037341l",  # lower case
        "9111000060003734SL",  # S is not in the alphabet
        None,
    ):
        assert not is_valid_credit_code(bad)


def test_credit_code_matches_stdnum_on_random_values() -> None:
    rng = np.random.default_rng(20250106)
    areas = ["320300", "320302", "320312", "320382", "110000", "370400"]
    for i in range(300):
        code = make_credit_code(rng, areas[i % len(areas)])
        assert is_valid_credit_code(code) and uscc.is_valid(code), code
        # The check character alone, on an arbitrary 17-character prefix (first 8 digits, as
        # stdnum requires) ...
        prefix = "".join(rng.choice(list("0123456789"), 8)) + "".join(
            rng.choice(list(CREDIT_CODE_ALPHABET), 9)
        )
        assert credit_code_check_char(prefix) == uscc.calc_check_digit(prefix + "0")
        # ... and a corrupted code, rejected by both.
        wrong = code[:17] + CREDIT_CODE_ALPHABET.replace(code[17], "")[i % 30]
        assert not is_valid_credit_code(wrong) and not uscc.is_valid(wrong), wrong


# -- resident ID (GB 11643) ----------------------------------------------------------------------
def test_id_number_known_values() -> None:
    assert is_valid_id_number("11010519491231002X")  # the example in GB 11643-1999
    assert is_valid_id_number("360426199101010071")  # stdnum's documented example
    assert id_check_char("11010519491231002") == "X"
    for bad in (
        "110105194912310021",  # wrong check digit
        "11010519491231002x",  # lower-case x
        "110105194902300027",  # 1949-02-30 is not a date
        "11010519491231002",
        "01010519491231002X",  # address cannot start with 0
        None,
    ):
        assert not is_valid_id_number(bad), bad
    first17 = "11010519490230002"  # a non-date with a correct check character
    assert not is_valid_id_number(first17 + id_check_char(first17))


def test_id_number_matches_stdnum_on_random_values() -> None:
    rng = np.random.default_rng(7)
    pyrng = random.Random(7)
    areas = ["320302", "320303", "320305", "320321", "320322", "320324"]  # in stdnum since 1983
    for i in range(300):
        birth = f"{pyrng.randint(1993, 2005)}{pyrng.randint(1, 12):02d}{pyrng.randint(1, 28):02d}"
        number = make_id_number(rng, areas[i % len(areas)], birth)
        assert is_valid_id_number(number) and ric.is_valid(number), number
        digits = "".join(str(d) for d in rng.integers(0, 10, 17))
        assert id_check_char(digits) == ric.calc_check_digit(digits + "0")
        wrong = number[:17] + "0123456789X".replace(number[17], "")[i % 10]
        assert not is_valid_id_number(wrong) and not ric.is_valid(wrong), wrong
        not_a_date = number[:10] + "0230" + number[14:17]
        not_a_date += id_check_char(not_a_date)
        assert not is_valid_id_number(not_a_date) and not ric.is_valid(not_a_date)


# -- overload (Order 2016-62) --------------------------------------------------------------------
def test_gross_limits_follow_the_table() -> None:
    assert [gross_limit_kg(a, False) for a in (2, 3, 4, 5, 6, 7)] == [
        18_000, 25_000, 31_000, 43_000, 49_000, 49_000
    ]  # fmt: skip
    assert [gross_limit_kg(a, True) for a in (2, 3, 4, 5, 6, 8)] == [
        18_000, 27_000, 36_000, 43_000, 49_000, 49_000
    ]  # fmt: skip
    with pytest.raises(ValueError):
        gross_limit_kg(1, False)


@pytest.mark.parametrize(
    ("vehicle_type", "plate", "trailer_plate", "road_train"),
    [
        ("Q11", "苏C12345", None, True),  # tractor + semi-trailer: a tractor is never alone
        ("B11", "苏C1234挂", None, True),  # the record names the semi-trailer
        ("G11", "苏C1234挂", None, True),  # the record names the full trailer
        ("H11", "苏C12345", "苏C1234挂", True),  # truck + full or centre-axle trailer
        ("H11", "鲁Q8888挂", None, True),  # the front camera read the trailer's plate
        ("H11", "苏C12345", None, False),  # a rigid truck
        ("H11", "苏C12345", "", False),
        ("H11", "苏C12345", "-", False),  # the rear camera read nothing
        (None, "-", None, False),
    ],
)  # fmt: skip
def test_road_train_from_what_a_record_carries(
    vehicle_type: str | None, plate: str, trailer_plate: str | None, road_train: bool
) -> None:
    assert is_road_train(vehicle_type, plate, trailer_plate) is road_train


def test_truck_with_a_full_or_centre_axle_trailer_gets_the_road_train_limit() -> None:
    train = is_road_train("H11", "苏C12345", "苏C1234挂")
    assert (gross_limit_kg(3, train), gross_limit_kg(4, train)) == (27_000, 36_000)


@pytest.mark.parametrize(
    ("axles", "limit", "registered", "explained"),
    [
        (2, 18_000, None, True), (3, 25_000, None, True), (3, 27_000, None, True),
        (4, 31_000, None, True), (4, 36_000, None, True), (5, 43_000, None, True),
        (6, 49_000, None, True), (8, 49_000, None, True),
        (6, 46_000, None, True), (7, 46_000, None, True),  # tractor with a single drive axle
        (2, 15_000, None, True), (3, 22_000, None, True), (3, 24_000, None, True),  # single tyres
        (4, 33_000, None, True), (6, 43_000, None, True),  # −3 t on 36 t and on 46 t
        (2, 12_000, 12_000, True), (6, 40_000, 40_000, True),  # the 行驶证's lower maximum
        (2, 12_000, None, False), (2, 12_000, 13_000, False),  # no 行驶证 value says 12 t
        (2, 20_000, 20_000, False),  # a 行驶证 maximum above the table is not the limit
        (5, 46_000, None, False), (6, 47_000, None, False), (5, 43_997, None, False),
        (3, 31_000, None, False), (6, 40_000, None, False), (4, 30_000, None, False),
    ],
)  # fmt: skip
def test_station_limits_the_order_allows(
    axles: int, limit: int, registered: int | None, explained: bool
) -> None:
    assert is_station_limit_explained(axles, limit, registered) is explained


@pytest.mark.parametrize(
    ("excess", "fine"),
    [
        (-500, 0), (0, 0), (1_000, 0),  # up to 1 t over: a warning
        (1_001, 500), (1_999, 500), (2_000, 1_000), (2_999, 1_000),  # ¥500 per full tonne
        (10_500, 5_000), (59_999, 29_500), (60_000, 30_000), (150_000, 30_000),  # cap
    ],
)  # fmt: skip
def test_fine(excess: int, fine: int) -> None:
    assert fine_yuan(excess) == fine


def test_bai_dun_wang_and_shuang_bai() -> None:
    assert not is_bai_dun_wang(99_999) and is_bai_dun_wang(100_000)
    assert is_shuang_bai(100_000, 49_000)  # 百吨王 alone
    assert is_shuang_bai(98_000, 49_000)  # exactly 100 % over
    assert not is_shuang_bai(97_990, 49_000)
    assert is_shuang_bai(36_000, 18_000) and not is_shuang_bai(35_990, 18_000)
    assert checks.excess_kg(50_000, 49_000) == 1_000 and checks.excess_kg(40_000, 49_000) == 0
    assert checks.excess_rate(98_000, 49_000) == 1.0


# -- code tables ---------------------------------------------------------------------------------
def test_all_code_tables_load() -> None:
    ids = list_code_tables(STANDARDS)
    for required in (
        "divisions", "plate_color", "plate_color_police", "plate_color_transport", "plate_type",
        "vehicle_type", "wim_sites", "checkpoints", "case_status", "violation_codes",
    ):  # fmt: skip
        assert required in ids
    for table_id in ids:
        table = load_code_table(STANDARDS, table_id)
        assert table.id == table_id and table.standard and table.title_zh
        assert len(table.code_set()) == len(table.codes)


def test_code_table_contents() -> None:
    divisions = load_code_table(STANDARDS, "divisions")
    assert divisions.code_set() == {
        "320300", "320302", "320303", "320305", "320311", "320312",
        "320321", "320322", "320324", "320381", "320382", "320371",
    }  # fmt: skip
    assert [d for d, flag in divisions.attribute("jurisdiction_only").items() if flag] == ["320371"]

    canonical = load_code_table(STANDARDS, "plate_color").code_set()
    police = load_code_table(STANDARDS, "plate_color_police")
    transport = load_code_table(STANDARDS, "plate_color_transport")
    assert police.code_set() == {"0", "1", "2", "3", "4", "5", "9"}
    assert transport.code_set() == {"0", "1", "2", "3", "4", "5", "9", "91", "92", "93", "94"}
    assert set(police.attribute("canonical").values()) <= canonical
    assert set(transport.attribute("canonical").values()) <= canonical
    assert police.get("1")["canonical"] == transport.get("2")["canonical"] == "yellow"

    vtypes = load_code_table(STANDARDS, "vehicle_type")
    assert {
        "H11",
        "H12",
        "H17",
        "H21",
        "H31",
        "K11",
        "K33",
        "K39",
        "Q11",
        "B11",
    } <= vtypes.code_set()
    assert vtypes.get("Q11")["is_tractor"] and not vtypes.get("K33")["is_goods"]
    assert load_code_table(STANDARDS, "case_status").code_set() == {
        "FILED", "INVESTIGATING", "REVIEWING", "DECIDED", "EXECUTING", "CLOSED"
    }  # fmt: skip
    assert {"01", "02", "15", "41", "51", "52"} <= load_code_table(
        STANDARDS, "plate_type"
    ).code_set()


def test_plate_colour_code_systems_cite_their_sources() -> None:
    """Each plate-colour code system names the feed convention it follows.

    GA 24.8 codes body colours (车身颜色), so it cannot be the source of a plate-colour code;
    JT/T 808 terminals register a vehicle without plates with colour 0.
    """
    from enforcement_brain.declarations import load_catalog

    police = load_code_table(STANDARDS, "plate_color_police")
    assert "GA 24.8" not in police.standard
    assert "卡口" in police.standard and "vendors differ" in police.standard
    elements = load_catalog(STANDARDS).elements
    assert "GA 24.8" not in str(elements["plate_color_police"].follows)

    transport = load_code_table(STANDARDS, "plate_color_transport")
    assert "JT/T 808" in transport.standard and "未上牌" in transport.standard
    assert transport.get("0")["name_zh"] == "未上牌"
    assert transport.get("0")["canonical"] == "unplated"
    assert "unplated" in load_code_table(STANDARDS, "plate_color").code_set()


#: GA 24.4-2018 机动车车辆类型代码, transcribed from a public copy of the code list (the
#: ``CLLX_MAP`` 车辆类型 dictionary of an open-source traffic-management project, Java package
#: ``com.juxingtech.helmet``), the codes near the ones the platform declares. B11-B1B agree with
#: several other public copies of the list.
GA24_4_REFERENCE = {
    "B11": "重型普通半挂车", "B12": "重型厢式半挂车", "B13": "重型罐式半挂车",
    "B14": "重型平板半挂车", "B15": "重型集装箱半挂车", "B16": "重型自卸半挂车",
    "B17": "重型特殊结构半挂车", "B18": "重型仓栅式半挂车", "B19": "重型旅居半挂车",
    "B1A": "重型专项作业半挂车", "B1B": "重型低平板半挂车",
    "G11": "重型普通全挂车", "G12": "重型厢式全挂车", "G13": "重型罐式全挂车",
    "H11": "重型普通货车", "H12": "重型厢式货车", "H13": "重型封闭货车", "H14": "重型罐式货车",
    "H15": "重型平板货车", "H16": "重型集装厢车", "H17": "重型自卸货车",
    "H18": "重型特殊结构货车", "H19": "重型仓栅式货车",
    "H21": "中型普通货车", "H22": "中型厢式货车", "H27": "中型自卸货车",
    "H31": "轻型普通货车", "H32": "轻型厢式货车", "H41": "微型普通货车",
    "K11": "大型普通客车", "K12": "大型双层客车", "K21": "中型普通客车",
    "K31": "小型普通客车", "K32": "小型越野客车", "K33": "小型轿车", "K39": "小型面包车",
    "K41": "微型普通客车", "K43": "微型轿车",
    "M21": "普通二轮摩托车",
    "Q11": "重型半挂牵引车", "Q12": "重型全挂牵引车", "Q21": "中型半挂牵引车",
    "X99": "其它",
    "Z11": "大型非载货专项作业车", "Z12": "大型载货专项作业车",
}  # fmt: skip


def test_vehicle_type_names_follow_ga_24_4() -> None:
    """Every declared vehicle-type code carries the Chinese name GA 24.4 gives it."""
    vtypes = load_code_table(STANDARDS, "vehicle_type")
    assert vtypes.code_set() <= set(GA24_4_REFERENCE)
    wrong = {
        c["code"]: (c["name_zh"], GA24_4_REFERENCE[c["code"]])
        for c in vtypes.codes
        if c["name_zh"] != GA24_4_REFERENCE[c["code"]]
    }
    assert wrong == {}
    # The semi-trailer bodies the overload feeds carry: tank, flatbed, tipper, special structure.
    assert {"B13", "B14", "B16", "B17"} <= vtypes.code_set()
    goods = vtypes.attribute("is_goods")
    tractor = vtypes.attribute("is_tractor")
    assert all(goods[c] and not tractor[c] for c in ("B13", "B14", "B16", "B17"))
    # Prefix rules: every H, Q, B, G type is a goods vehicle, only Q types are tractor units.
    for code in vtypes.code_set():
        assert goods[code] == (code[0] in "HQBG"), code
        assert tractor[code] == (code[0] == "Q"), code


@pytest.mark.parametrize(("table_id", "count"), [("wim_sites", 18), ("checkpoints", 42)])
def test_sites_are_in_xuzhou(table_id: str, count: int) -> None:
    table = load_code_table(STANDARDS, table_id)
    divisions = load_code_table(STANDARDS, "divisions").code_set()
    prefix = "WIM" if table_id == "wim_sites" else "KK"
    assert len(table.codes) == count
    for site in table.codes:
        assert re.fullmatch(prefix + r"32[0-9]{7}", site["code"]), site["code"]
        assert site["code"][len(prefix) : len(prefix) + 6] == site["division_code"] in divisions
        assert re.fullmatch(r"K[0-9]{3}\+[0-9]{3}", site["stake"]), site["stake"]
        assert re.fullmatch(r"[GSX][0-9]{1,4}", site["road"]), site["road"]
        lon_lo, lon_hi, lat_lo, lat_hi = XUZHOU_BBOX
        assert lon_lo <= site["lon"] <= lon_hi and lat_lo <= site["lat"] <= lat_hi, site["code"]
    if table_id == "wim_sites":
        assert sum(s["feeds_city_platform"] for s in table.codes) == 11
        g237 = [s for s in table.codes if s["road"] == "G237"]
        assert g237 and g237[0]["division_code"] == "320321" and g237[0]["feeds_city_platform"]


def _write_table(folder: Path, text: str) -> Path:
    (folder / "code_tables").mkdir(parents=True, exist_ok=True)
    path = folder / "code_tables" / "demo.yaml"
    path.write_text(text, encoding="utf-8")
    return path


_HEAD = "id: demo\ntitle: Demo\ntitle_zh: 演示\nstandard: none\ncodes:\n"


def test_duplicate_code_names_file_and_code(tmp_path: Path) -> None:
    path = _write_table(tmp_path, _HEAD + '  - {code: "01", name: a}\n  - {code: "01", name: b}\n')
    with pytest.raises(DeclarationError, match=r"demo\.yaml.*duplicate code '01'"):
        load_code_table(tmp_path, "demo")
    # Fixing the file is seen without a restart (the cache is keyed by modification time).
    before = path.stat().st_mtime_ns
    path.write_text(_HEAD + '  - {code: "01", name: a}\n  - {code: "02", name: b}\n', "utf-8")
    os.utime(path, ns=(before + 10**9, before + 10**9))  # a coarse clock may not have moved
    assert load_code_table(tmp_path, "demo").code_set() == {"01", "02"}


def test_unquoted_numeric_code_is_refused(tmp_path: Path) -> None:
    _write_table(tmp_path, _HEAD + "  - {code: 01, name: a}\n")
    with pytest.raises(DeclarationError, match="quote it"):
        load_code_table(tmp_path, "demo")


def test_missing_table_and_bad_id(tmp_path: Path) -> None:
    with pytest.raises(DeclarationError, match="no code table"):
        load_code_table(tmp_path, "nothing")
    _write_table(tmp_path, _HEAD.replace("id: demo", "id: other") + '  - {code: "1", name: a}\n')
    with pytest.raises(DeclarationError, match="differs from the file name"):
        load_code_table(tmp_path, "demo")


def test_codes_are_copies() -> None:
    table = load_code_table(STANDARDS, "divisions")
    table.codes.clear()
    assert load_code_table(STANDARDS, "divisions").codes


# -- ship id, coordinates and datum --------------------------------------------------------------
@pytest.mark.parametrize(
    ("ship_id", "ok"),
    [
        ("CN20121234567", True),
        ("CN19951234560", True),
        ("CN29991234567", False),  # keel year in the future
        ("CN18991234567", False),  # before 1900
        ("CN2012123456", False),  # 10 digits
        ("cn20121234567", False),
        ("CN2012123456X", False),
        (None, False),
    ],
)
def test_ship_id(ship_id: str | None, ok: bool) -> None:
    assert checks.is_valid_ship_id(ship_id, this_year=2026) is ok


def test_in_xuzhou_edges() -> None:
    (x0, x1), (y0, y1) = checks.XUZHOU_BBOX
    assert checks.in_xuzhou(x0, y0) and checks.in_xuzhou(x1, y1)
    assert checks.in_xuzhou(x0 - 0.049, y0) and not checks.in_xuzhou(x0 - 0.051, y0)
    assert not checks.in_xuzhou(121.47, 31.23)  # Shanghai
    assert not checks.in_xuzhou(None, 34.2)


def test_gcj02_matches_an_independent_implementation() -> None:
    """Our WGS-84 -> GCJ-02 (used to inject wrong-datum rows) against eviltransform.

    eviltransform takes the WGS-84 semi-major axis where the common formula takes Krasovsky's
    (6378245 m): the two differ by ~1e-7° (about a centimetre), far below the 500 m shift.
    """
    import eviltransform

    rng = random.Random(7)
    for _ in range(500):
        lon, lat = rng.uniform(116.3, 118.7), rng.uniform(33.7, 35.0)
        glon, glat = checks.wgs84_to_gcj02(lon, lat)
        want_lat, want_lon = eviltransform.wgs2gcj(lat, lon)
        assert abs(glon - want_lon) < 1e-6 and abs(glat - want_lat) < 1e-6


def test_datum_band_separates_shift_from_gps_scatter() -> None:
    """Every point of Xuzhou shifted into GCJ-02 falls in the band; ±50 m scatter never does."""
    rng = random.Random(11)
    for _ in range(2_000):
        lon, lat = rng.uniform(116.37, 118.67), rng.uniform(33.72, 34.97)
        assert checks.looks_gcj02(*checks.wgs84_to_gcj02(lon, lat), lon, lat)
        jitter = (lon + rng.uniform(-0.0005, 0.0005), lat + rng.uniform(-0.0005, 0.0005))
        assert not checks.looks_gcj02(*jitter, lon, lat)


def test_datum_inverses_match_an_independent_implementation() -> None:
    """GCJ-02 -> WGS-84 (two fixed-point steps) and BD-09 <-> GCJ-02 against eviltransform,
    and the numpy form (the generator's) equal to the scalar one."""
    import eviltransform
    import numpy as np

    rng = random.Random(13)
    points = [(rng.uniform(116.3, 118.7), rng.uniform(33.7, 35.0)) for _ in range(300)]
    for lon, lat in points:
        glon, glat = checks.wgs84_to_gcj02(lon, lat)
        wlon, wlat = checks.gcj02_to_wgs84(glon, glat)
        want_lat, want_lon = eviltransform.gcj2wgs_exact(glat, glon)
        assert abs(wlon - want_lon) < 2e-6 and abs(wlat - want_lat) < 2e-6  # its own 1e-6 stop
        assert abs(wlon - lon) < 1e-7 and abs(wlat - lat) < 1e-7  # ~1 cm
        blon, blat = checks.gcj02_to_bd09(glon, glat)
        want_blat, want_blon = eviltransform.gcj2bd(glat, glon)
        assert abs(blon - want_blon) < 1e-9 and abs(blat - want_blat) < 1e-9
        back = checks.bd09_to_gcj02(blon, blat)
        assert abs(back[0] - glon) < 2e-6 and abs(back[1] - glat) < 2e-6  # ~15 cm
    lons, lats = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    vlon, vlat = checks.wgs84_to_gcj02(lons, lats, checks.numpy_math())
    scalar = [checks.wgs84_to_gcj02(lon, lat) for lon, lat in points]
    assert np.allclose(vlon, [s[0] for s in scalar], atol=1e-12, rtol=0)
    assert np.allclose(vlat, [s[1] for s in scalar], atol=1e-12, rtol=0)


# -- violation transfers (抄告): sent within 7 working days of the case's closure --------------


def test_working_days_after_closure_skip_the_weekend() -> None:
    import datetime as dt

    friday = dt.date(2026, 3, 6)
    assert checks.working_days_after(friday, friday) == 0
    assert checks.working_days_after(friday, dt.date(2026, 3, 8)) == 0  # Sunday
    assert checks.working_days_after(friday, dt.date(2026, 3, 9)) == 1  # Monday
    assert checks.working_days_after(friday, dt.date(2026, 3, 17)) == 7  # Tuesday week after
    assert checks.working_days_after(friday, dt.date(2026, 3, 18)) == 8
    assert checks.working_days_after(dt.date(2026, 3, 7), dt.date(2026, 3, 9)) == 1  # Sat -> Mon


def test_a_transfer_after_seven_working_days_is_on_time_after_eight_late() -> None:
    import datetime as dt

    closed = dt.datetime(2026, 3, 6, 16, 30)  # a Friday afternoon
    assert checks.TRANSFER_DEADLINE_WORKING_DAYS == 7
    assert checks.is_transfer_on_time(closed, dt.datetime(2026, 3, 17, 17, 59)) is True
    assert checks.is_transfer_on_time(closed, dt.datetime(2026, 3, 18, 8, 30)) is False
    assert checks.is_transfer_on_time(closed, dt.datetime(2026, 3, 6, 17, 0)) is True


def test_a_shared_sql_function_brings_the_ones_it_calls() -> None:
    from enforcement_brain.standards.sql_library import used_functions

    names = [f.name for f in used_functions("SELECT is_transfer_on_time(closed_at, sent_at)")]
    assert names == ["working_days_after", "is_transfer_on_time"]
