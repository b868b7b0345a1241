"""Identifier checks and overload rules of the data standard, in plain Python.

Why plain Python: these functions are the reference the Spark row rules are tested against, the
checks the synthetic generator uses to make sure a "clean" value is clean and a "defect" is really
defective, and the thing a reviewer reads. The regex constants are plain strings written in the
common subset of Python ``re`` and Java regex (Spark ``rlike``): no named groups, no ``\\d`` (in
Python it also matches non-ASCII digits such as ``٣``), explicit ``[0-9]`` instead.

Anchors: the constants use ``^...$``. Python callers here use :func:`re.fullmatch`, which rejects
a trailing newline; Java's ``$`` also matches *before* one final line terminator, so a Spark rule
``plate_no rlike PLATE_ANY_RE`` accepts ``"苏C12345\\n"``. Loads that keep raw strings should trim
or reject control characters first (none of the generated sources carry them).

Sources: GA 36-2018 and the special-plate rules cited in :data:`PLATE_FORMS` (plates),
GB 32100-2015 (credit code), GB 11643-1999 (resident ID),
交通运输部令2016年第62号 Art. 3 and 43 with GB 1589-2016 (overload), Art. 44 (transfer
deadline). ``[I]`` marks a design choice of ours where the rule text leaves room.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from typing import Any, NamedTuple

# -- plates (GA 36-2018 and the special plates beside it) ------------------------------------------

#: The 31 province-level characters. 使 (embassy) and 领 (consulate) are not among them: they end
#: their plates (see :data:`PLATE_FORMS`).
PROVINCE_CHARS = "京津沪渝冀晋辽吉黑苏浙皖闽赣鲁豫鄂湘粤琼川贵云陕甘青蒙桂藏宁新"

#: Letters usable after the province character and in serials: A-Z without I and O (GA 36).
_LETTER = "A-HJ-NP-Z"
_ALNUM = f"{_LETTER}0-9"
#: NEV plates: the energy letter. D/A/B/C/E pure electric, F/G/H/J/K other new energy.
_NEV_LETTER = "DABCEFGHJK"
_P = f"[{PROVINCE_CHARS}]"


class PlateForm(NamedTuple):
    """One form of plate number, declared once: the check, the SQL rule and the generator use it.

    ``pattern`` is anchored and in the Python/Java common subset (it goes to Spark ``rlike``).
    ``template`` is what the generator fills: ``{P}`` a province character, ``{L}`` an office
    letter, ``{A}`` a letter or digit, ``{D}`` a digit, ``{E}`` an energy letter; anything else is
    literal. ``valid`` and ``invalid`` are worked examples the tests hold the pattern to.
    """

    name: str
    name_zh: str
    pattern: str
    source: str
    valid: tuple[str, ...]
    invalid: tuple[str, ...]
    template: str


#: Every plate form the platform accepts. A plate is well formed when it matches one of them.
PLATE_FORMS: tuple[PlateForm, ...] = (
    PlateForm(
        "ordinary",
        "大型/小型汽车、挂车、教练、警用、港澳入出境号牌",
        f"^{_P}[{_LETTER}][{_ALNUM}]{{4}}[{_ALNUM}挂学警港澳]$",
        "GA 36-2018: province, office letter, 5-character serial; the last character may be "
        "挂 (trailer), 学 (coach), 警 (police), 港/澳 (Hong Kong/Macau entry-exit)",
        ("苏C12345", "苏CA1234", "皖L1234挂", "苏C1234学", "苏A0123警", "粤Z1234港"),
        ("苏CI2345", "徐C12345", "使A12345", "苏C12345挂", "苏c12345"),
        "{P}{L}{A}{A}{A}{A}{A}",
    ),
    PlateForm(
        "nev_small",
        "小型新能源汽车号牌",
        f"^{_P}[{_LETTER}][{_NEV_LETTER}][{_ALNUM}][0-9]{{4}}$",
        "GA 36-2018: province, office letter, 6-character serial starting with the energy letter "
        "(D/A/B/C/E pure electric, F/G/H/J/K other new energy)",
        ("苏CD12345", "苏CFA1234"),
        ("苏CZ12345", "苏CD1234A"),
        "{P}{L}{E}{A}{D}{D}{D}{D}",
    ),
    PlateForm(
        "nev_large",
        "大型新能源汽车号牌",
        f"^{_P}[{_LETTER}][0-9]{{5}}[{_NEV_LETTER}]$",
        "GA 36-2018: province, office letter, five digits, then the energy letter",
        ("苏C12345D", "鲁Q12345F"),
        ("苏C1234Z5", "苏C12345Z"),
        "{P}{L}{D}{D}{D}{D}{D}{E}",
    ),
    PlateForm(
        "embassy",
        "使馆汽车号牌",
        "^[0-9]{6}使$",
        "GA 36-2018 使馆汽车号牌: 3-digit embassy code, 3-digit serial, then 使 (clause [NF]); "
        "the older form with 使 first is not accepted [I]",
        ("224001使", "101123使"),
        ("使224001", "22400使", "使A12345"),
        "{D}{D}{D}{D}{D}{D}使",
    ),
    PlateForm(
        "consulate",
        "领馆汽车号牌",
        f"^{_P}[{_LETTER}][{_ALNUM}]{{4}}领$",
        "GA 36-2018 领馆汽车号牌: province, office letter, 4-character serial, then 领 "
        "(clause [NF]; serial alphabet as for ordinary plates [I])",
        ("沪A1234领", "粤A0023领"),
        ("领A12345", "沪A12345领"),
        "{P}{L}{A}{A}{A}{A}领",
    ),
    PlateForm(
        "test_vehicle",
        "试验汽车号牌",
        f"^{_P}[{_LETTER}][{_ALNUM}]{{4}}试$",
        "GA 36-2018 试验汽车号牌: province, office letter, 4-character serial, then 试 "
        "(clause [NF]; serial alphabet as for ordinary plates [I])",
        ("苏A1234试", "苏C0K12试"),
        ("苏A12345试", "试A1234"),
        "{P}{L}{A}{A}{A}{A}试",
    ),
    PlateForm(
        "armed_police",
        "武警号牌",
        f"^WJ{_P}?[0-9]{{4}}[0-9BDHJSTX]$",
        "People's Armed Police plates (2012 series), issued by the armed police, not under "
        "GA 36 [I]: WJ, the province of a provincial corps (none for headquarters), four "
        "digits, then a digit or a service letter (B, D, H, J, S, T, X) [I: letter set from "
        "public descriptions, no official text found]",
        ("WJ苏12345", "WJ苏1234B", "WJ12345", "WJ1234J"),
        ("WJ苏1234", "WJ使12345", "WJ苏1234O", "WJ苏123456"),
        "WJ{P}{D}{D}{D}{D}{D}",
    ),
    PlateForm(
        "emergency",
        "应急救援专用号牌",
        f"^{_P}(?:[XS][0-9]{{4}}|[0-9]{{5}})应急$",
        "国务院办公厅 关于国家综合性消防救援车辆悬挂应急救援专用号牌有关事项的通知 (2018-12): "
        "8 characters, province, rescue-team code (X fire and rescue, S forest fire; none for "
        "the Ministry of Emergency Management, then five digits), four-digit serial, 应急 "
        "[V: as publicly described; digits-only serial I]",
        ("苏X1234应急", "苏S0012应急", "京12345应急"),
        ("苏A1234应急", "苏X123应急", "应急苏X1234"),
        "{P}X{D}{D}{D}{D}应急",
    ),
)
#: Any well-formed plate (not counting the unrecognised value): the union of :data:`PLATE_FORMS`.
PLATE_ANY_RE = "^(?:" + "|".join(f.pattern[1:-1] for f in PLATE_FORMS) + ")$"
#: What ANPR and WIM cameras write when they cannot read a plate: a legitimate value, not an error.
UNRECOGNISED_PLATE = "-"

_PLATE_ANY = re.compile(PLATE_ANY_RE)


def is_valid_plate(plate: str | None) -> bool:
    """True for a well-formed plate number or the unrecognised marker ``-``.

    ``-`` is valid because a camera that saw a vehicle but could not read it produced a true
    record (it counts as traffic); rejecting it would lose rows, not clean them.
    """
    if plate is None:
        return False
    return plate == UNRECOGNISED_PLATE or _PLATE_ANY.fullmatch(plate) is not None


# -- unified social credit code (GB 32100-2015) --------------------------------------------------

#: The 31 code characters: digits and capitals without I, O, S, V, Z. Index = value.
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CC = "0-9A-HJ-NP-RTUW-Y"  # the same alphabet as a character class
#: Registration department + category (2 chars), 6-digit GB/T 2260 area code, 9-character
#: subject id, check character. The format only; the check character needs
#: :func:`is_valid_credit_code`.
CREDIT_CODE_RE = f"^[{_CC}]{{2}}[0-9]{{6}}[{_CC}]{{10}}$"
#: Weights 3^i mod 31 for positions 1..17.
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_CODE = re.compile(CREDIT_CODE_RE)


def credit_code_check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters of a credit code.

    check = 31 - (Σ value·weight mod 31), with 31 written as ``0``. Raises ``ValueError`` for a
    character outside the alphabet, so a caller building codes cannot silently make a bad one.
    """
    if len(first17) != 17:
        raise ValueError(f"need 17 characters, got {len(first17)}: {first17!r}")
    try:
        total = sum(
            CREDIT_CODE_ALPHABET.index(c) * w
            for c, w in zip(first17, CREDIT_CODE_WEIGHTS, strict=True)
        )
    except ValueError:
        raise ValueError(f"character outside the GB 32100 alphabet in {first17!r}") from None
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def is_valid_credit_code(code: str | None) -> bool:
    """True when ``code`` has the GB 32100 format and a correct check character."""
    if code is None or _CREDIT_CODE.fullmatch(code) is None:
        return False
    return credit_code_check_char(code[:17]) == code[17]


# -- resident ID number (GB 11643-1999) ------------------------------------------------------------

#: 6-digit address, birth date YYYYMMDD (years 18xx-20xx), 3-digit sequence, check (digit or X).
#: The format only: a real calendar date and the check need :func:`is_valid_id_number`.
ID_NUMBER_RE = (
    "^[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9X]$"
)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_NUMBER = re.compile(ID_NUMBER_RE)


def id_check_char(first17: str) -> str:
    """The GB 11643 check character: ``"10X98765432"[Σ digit·weight mod 11]``."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError(f"need 17 ASCII digits, got {first17!r}")
    total = sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def is_valid_id_number(number: str | None) -> bool:
    """True for an 18-character resident ID with a real birth date and a correct check character.

    The address code is not checked against GB/T 2260: a retired code (people keep their number
    for life) is a warning in the standard, not an error. A birth date in the future is left to
    the rule that knows the business date; this function does not read the clock.
    """
    if number is None or _ID_NUMBER.fullmatch(number) is None:
        return False
    try:
        _dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:  # 19990231 passes the regex but is not a date
        return False
    return id_check_char(number[:17]) == number[17]


# -- overload (交通运输部令2016年第62号, GB 1589-2016) -------------------------------------

#: GA 24.4 vehicle-type classes that only run as part of a 汽车列车 (road train): Q tractor
#: units, B semi-trailers, G full trailers (a centre-axle trailer is registered as one).
ROAD_TRAIN_TYPE_CLASSES = ("Q", "B", "G")
#: GA 36-2018: a trailer's plate ends with 挂.
TRAILER_PLATE_SUFFIX = "挂"


def is_trailer_plate(plate: str | None) -> bool:
    """A trailer's plate (GA 36-2018: the last character is 挂)."""
    return plate is not None and plate.strip().endswith(TRAILER_PLATE_SUFFIX)


def is_road_train(
    vehicle_type_code: str | None, plate_no: str | None, trailer_plate_no: str | None = None
) -> bool:
    """Whether a weighing is of a 汽车列车 (road train), from what the record carries.

    Order 2016-62 Art. 3 gives every 汽车列车 its own limits (3 axles 27 t, 4 axles 36 t): a
    tractor with a semi-trailer, and equally a truck with a full or centre-axle trailer. A
    record shows a road train by its vehicle type (a tractor, or the trailer itself:
    :data:`ROAD_TRAIN_TYPE_CLASSES`), by a trailer plate read at the front, or by the trailer
    plate the rear camera read (``trailer_plate_no``). A truck's own type (H) says nothing
    about a drawn trailer, so the trailer plate is what tells a truck + trailer from a rigid
    truck. Used by the SQL ``is_road_train`` (generated from the same constants).
    """
    kind = (vehicle_type_code or "").strip()[:1]
    return (
        kind in ROAD_TRAIN_TYPE_CLASSES
        or is_trailer_plate(plate_no)
        or is_trailer_plate(trailer_plate_no)
    )


#: Gross limits (kg) by axle count: (rigid truck, combination). Art. 3 of Order 2016-62.
GROSS_LIMITS_KG: dict[int, tuple[int, int]] = {
    2: (18_000, 18_000),
    3: (25_000, 27_000),
    4: (31_000, 36_000),
    5: (43_000, 43_000),
    6: (49_000, 49_000),
}
#: Art. 3 第一款第（八）项: a road train of 6 or more axles whose tractor has a single drive axle.
SINGLE_DRIVE_AXLE_MIN_AXLES = 6
SINGLE_DRIVE_AXLE_LIMIT_KG = 46_000
#: Art. 3 第二款第（二）项: single tyres on each side of an axle (drive axles and widened tyres
#: excepted) lower the limit by 3,000 kg.
SINGLE_TYRE_REDUCTION_KG = 3_000
#: Excess up to this is a warning, not a fine (Art. 43(二): 未超过1000千克的，予以警告).
FINE_FREE_EXCESS_KG = 1_000
#: The fine's step: ¥500 for each full 1,000 kg of the excess (每超1000千克罚款500元).
FINE_STEP_KG = 1_000
FINE_PER_FULL_TONNE_YUAN = 500
#: The fine's cap (最高不得超过30000元).
FINE_CAP_YUAN = 30_000
#: 百吨王: a truck weighing 100 t or more (operational definition).
BAI_DUN_WANG_KG = 100_000
#: Xuzhou's plate prefix: province 苏 and issuing office C (GA 36-2018).
XUZHOU_PLATE_PREFIX = "苏C"
#: GB/T 2260 area codes of Jiangsu start with 32; any other area is another province.
HOME_PROVINCE_AREA_PREFIX = "32"


def gross_limit_kg(axle_count: int, is_combination: bool) -> int:
    """Gross-weight limit in kg for a goods vehicle with ``axle_count`` axles.

    The table has no rigid truck with 5 or more axles and no 2-axle combination. [I] Such a
    vehicle gets the only limit the table gives for its axle count (43 t / 49 t; 18 t for 2 axles)
    rather than an error, because a WIM record must still be judged. For 6+ axles the 46 t limit
    of a tractor with a single drive axle is not applied: WIM does not report drive axles, so 49 t
    is the limit that can be proven against the driver.
    """
    if axle_count < 2:
        raise ValueError(f"a goods vehicle has at least 2 axles, got {axle_count}")
    rigid, combination = GROSS_LIMITS_KG[min(axle_count, 6)]
    return combination if is_combination else rigid


def station_limits_kg(axle_count: int) -> list[int]:
    """Every limit Order 2016-62 Art. 3 gives a vehicle with ``axle_count`` axles, ascending.

    A static station sees what WIM cannot: whether the vehicle is a road train, how many drive
    axles its tractor has and whether its axles run on single tyres. So its limit may be the
    rigid-truck or road-train limit for the axle count, 46,000 kg for a road train of 6 or more
    axles whose tractor has a single drive axle (第一款第（八）项), or any of these lowered by
    3,000 kg for single tyres (第二款第（二）项). A limit from the 行驶证 is judged apart
    (:func:`is_station_limit_explained`).
    """
    rigid, combination = GROSS_LIMITS_KG[min(max(axle_count, 2), 6)]
    base = {rigid, combination}
    if axle_count >= SINGLE_DRIVE_AXLE_MIN_AXLES:
        base.add(SINGLE_DRIVE_AXLE_LIMIT_KG)
    return sorted(base | {b - SINGLE_TYRE_REDUCTION_KG for b in base})


def is_station_limit_explained(
    axle_count: int, limit_kg: int, registered_max_kg: int | None = None
) -> bool:
    """Whether a static station's limit is one the order allows for the axle count.

    Either one of :func:`station_limits_kg`, or the maximum total mass on the vehicle's 行驶证
    when that is lower than the table's highest limit for the axle count (Art. 3 第二款第（四）
    项 takes the 行驶证 value for tractors, farm and low-speed goods vehicles; 第（三）项 caps
    the limit at what the vehicle is approved for). A limit no rule explains is an error of the
    station's record. The rule R_LIMIT_MATCHES_AXLES says the same in SQL
    (``rule_kinds.sql.station_limit_explained_sql``).
    """
    allowed = station_limits_kg(axle_count)
    if limit_kg in allowed:
        return True
    return registered_max_kg is not None and limit_kg == registered_max_kg < max(allowed)


def excess_kg(gross_kg: int, limit_kg: int) -> int:
    """Weight over the limit, 0 when within it."""
    return max(0, gross_kg - limit_kg)


def excess_rate(gross_kg: int, limit_kg: int) -> float:
    """Excess as a fraction of the limit (1.0 = 100 % over), 0.0 when within it."""
    return excess_kg(gross_kg, limit_kg) / limit_kg


def fine_yuan(excess: int) -> int:
    """Fine in yuan for ``excess`` kg over the limit (Order 2016-62 Art. 43(二)).

    Up to 1,000 kg over: a warning, fine 0. Above that: ¥500 for each *full* 1,000 kg of the
    whole excess (每超1000千克罚款500元: a part-tonne is not a tonne exceeded, so floor), capped
    at ¥30,000. 1,001–1,999 kg over is ¥500; the cap is reached at 60,000 kg over. The SQL
    ``fine_yuan`` is generated from the same constants.
    """
    if excess <= FINE_FREE_EXCESS_KG:
        return 0
    return min(FINE_CAP_YUAN, FINE_PER_FULL_TONNE_YUAN * (excess // FINE_STEP_KG))


def is_bai_dun_wang(gross_kg: int) -> bool:
    """百吨王: gross weight of 100 t or more."""
    return gross_kg >= BAI_DUN_WANG_KG


def is_shuang_bai(gross_kg: int, limit_kg: int) -> bool:
    """双百: [I] 百吨王 OR excess rate of 100 % or more (no official definition was found).

    Integer arithmetic (excess >= limit) so the boundary is exact: 98,000 kg on a 49,000 kg limit
    is exactly 100 % over and counts.
    """
    return is_bai_dun_wang(gross_kg) or gross_kg - limit_kg >= limit_kg


# -- violation transfers (抄告) ---------------------------------------------------------------

#: An outgoing transfer is due within this many working days after its case is closed
#: (交通运输部令2016年第62号 第四十四条: 结案之日起7个工作日内).
TRANSFER_DEADLINE_WORKING_DAYS = 7
#: Working days are Monday to Friday (Python's and Spark's ``weekday()`` 0-4). [I] Public
#: holidays and the weekend days worked in their place are not applied: no holiday calendar
#: is part of the platform.
WORKING_WEEKDAYS = (0, 1, 2, 3, 4)


def working_days_after(closed_on: _dt.date, sent_on: _dt.date) -> int:
    """Working days after ``closed_on`` up to and including ``sent_on`` (0 on or before it).

    The closing day itself does not count, as a deadline "within N days of" starts the next day.
    """
    days = (sent_on - closed_on).days
    return sum(
        1
        for k in range(1, days + 1)
        if (closed_on + _dt.timedelta(days=k)).weekday() in WORKING_WEEKDAYS
    )


def is_transfer_on_time(closed_at: _dt.datetime, sent_at: _dt.datetime) -> bool:
    """Whether a transfer sent at ``sent_at`` meets the deadline after closure at ``closed_at``."""
    return working_days_after(closed_at.date(), sent_at.date()) <= TRANSFER_DEADLINE_WORKING_DAYS


# -- ship identification number ------------------------------------------------------------

#: 船舶识别号: CN + 11 digits; digits 1-4 the keel-laying year. The 11th digit is a check digit
#: whose algorithm was not found [NF]: it is not checked.
SHIP_ID_RE = "^CN[0-9]{11}$"


def is_valid_ship_id(ship_id: str | None, this_year: int | None = None) -> bool:
    """True for ``CN`` + 11 digits whose keel year is 1900..this year."""
    if ship_id is None or re.fullmatch(SHIP_ID_RE, ship_id) is None:
        return False
    year = int(ship_id[2:6])
    return 1900 <= year <= (this_year or _dt.date.today().year)


# -- coordinates and datum ------------------------------------------------------------------

#: Xuzhou's extent, WGS-84: ((lon min, lon max), (lat min, lat max)).
XUZHOU_BBOX = ((116.366, 118.667), (33.716, 34.967))
#: [I] Positions within this many degrees of the extent are accepted (GPS scatter at the border).
XUZHOU_BUFFER_DEG = 0.05
#: [I] In Xuzhou a GCJ-02 position sits this far from the WGS-84 one (lon, lat bands, degrees):
#: about 500-550 m east-south-east. A fixed site reported inside this band is a datum mix-up.
GCJ_OFFSET_DLON = (0.0045, 0.0065)
GCJ_OFFSET_DLAT = (-0.0018, -0.0004)


def in_xuzhou(lon: float | None, lat: float | None, buffer: float = XUZHOU_BUFFER_DEG) -> bool:
    """True when the point lies inside Xuzhou's extent plus ``buffer`` degrees."""
    if lon is None or lat is None:
        return False
    (x0, x1), (y0, y1) = XUZHOU_BBOX
    return x0 - buffer <= lon <= x1 + buffer and y0 - buffer <= lat <= y1 + buffer


def looks_gcj02(lon: float, lat: float, site_lon: float, site_lat: float) -> bool:
    """True when a position reported for a fixed site is the site shifted into GCJ-02."""
    dlon, dlat = lon - site_lon, lat - site_lat
    return (
        GCJ_OFFSET_DLON[0] <= dlon <= GCJ_OFFSET_DLON[1]
        and GCJ_OFFSET_DLAT[0] <= dlat <= GCJ_OFFSET_DLAT[1]
    )


class _Math:
    """The few functions the datum formulas need, from one library (``math``, ``numpy`` or
    ``pyspark.sql.functions``), so one formula serves checks, the generator and silver."""

    def __init__(self, sin: Any, cos: Any, sqrt: Any, abs_: Any, atan2: Any) -> None:
        self.sin, self.cos, self.sqrt, self.abs, self.atan2 = sin, cos, sqrt, abs_, atan2


#: Scalar floats.
PY_MATH = _Math(math.sin, math.cos, math.sqrt, abs, math.atan2)


def numpy_math() -> _Math:
    """Whole arrays (the generator)."""
    import numpy as np

    return _Math(np.sin, np.cos, np.sqrt, np.abs, np.arctan2)


def spark_math() -> _Math:
    """Spark columns (silver): built-in functions, no Python UDF."""
    from pyspark.sql import functions as F

    return _Math(F.sin, F.cos, F.sqrt, F.abs, F.atan2)


def gcj02_offset(lon: Any, lat: Any, m: _Math = PY_MATH) -> tuple[Any, Any]:
    """The GCJ-02 shift (public formula) at a WGS-84 position: (dlon, dlat) in degrees."""
    a, ee = 6378245.0, 0.00669342162296594323
    x, y = lon - 105.0, lat - 35.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * m.sqrt(m.abs(x))
    dlat += (20.0 * m.sin(6.0 * x * math.pi) + 20.0 * m.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlat += (20.0 * m.sin(y * math.pi) + 40.0 * m.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    dlat += (160.0 * m.sin(y / 12.0 * math.pi) + 320 * m.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * m.sqrt(m.abs(x))
    dlon += (20.0 * m.sin(6.0 * x * math.pi) + 20.0 * m.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlon += (20.0 * m.sin(x * math.pi) + 40.0 * m.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    dlon += (150.0 * m.sin(x / 12.0 * math.pi) + 300.0 * m.sin(x / 30.0 * math.pi)) * 2 / 3
    rad = lat / 180.0 * math.pi
    sin_rad = m.sin(rad)
    magic = 1 - ee * sin_rad * sin_rad
    sq = m.sqrt(magic)
    dlat = (dlat * 180.0) / ((a * (1 - ee)) / (magic * sq) * math.pi)
    dlon = (dlon * 180.0) / (a / sq * m.cos(rad) * math.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: Any, lat: Any, m: _Math = PY_MATH) -> tuple[Any, Any]:
    """WGS-84 → GCJ-02 (the obfuscation Chinese map and ride-hailing platforms apply)."""
    dlon, dlat = gcj02_offset(lon, lat, m)
    return lon + dlon, lat + dlat


#: Fixed-point steps of the inverse: the shift changes slowly over its own 500 m, so each step
#: gains about three digits: two leave up to 1e-7° (1 cm) in Xuzhou, three under 1e-9°.
GCJ_INVERSE_STEPS = 3


def gcj02_to_wgs84_step(
    glon: Any, glat: Any, wlon: Any, wlat: Any, m: _Math = PY_MATH
) -> tuple[Any, Any]:
    """One step of the inverse: the WGS-84 guess ``(wlon, wlat)`` refined for ``(glon, glat)``.

    GCJ-02 has no closed-form inverse; w ← g − offset(w), started at w = g, converges fast.
    Spark takes the steps as separate projections so the expression does not grow with them.
    """
    dlon, dlat = gcj02_offset(wlon, wlat, m)
    return glon - dlon, glat - dlat


def gcj02_to_wgs84(lon: Any, lat: Any, m: _Math = PY_MATH) -> tuple[Any, Any]:
    """GCJ-02 → WGS-84 (scalars or arrays)."""
    wlon, wlat = lon, lat
    for _ in range(GCJ_INVERSE_STEPS):
        wlon, wlat = gcj02_to_wgs84_step(lon, lat, wlon, wlat, m)
    return wlon, wlat


_BD_X_PI = math.pi * 3000.0 / 180.0


def gcj02_to_bd09(lon: Any, lat: Any, m: _Math = PY_MATH) -> tuple[Any, Any]:
    """GCJ-02 → BD-09 (Baidu's further shift, public formula)."""
    z = m.sqrt(lon * lon + lat * lat) + 0.00002 * m.sin(lat * _BD_X_PI)
    theta = m.atan2(lat, lon) + 0.000003 * m.cos(lon * _BD_X_PI)
    return z * m.cos(theta) + 0.0065, z * m.sin(theta) + 0.006


def bd09_to_gcj02(lon: Any, lat: Any, m: _Math = PY_MATH) -> tuple[Any, Any]:
    """BD-09 → GCJ-02 (the public inverse; within ~15 cm, the precision feeds deliver)."""
    x, y = lon - 0.0065, lat - 0.006
    z = m.sqrt(x * x + y * y) - 0.00002 * m.sin(y * _BD_X_PI)
    theta = m.atan2(y, x) - 0.000003 * m.cos(x * _BD_X_PI)
    return z * m.cos(theta), z * m.sin(theta)
