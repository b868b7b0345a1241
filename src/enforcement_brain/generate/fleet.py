"""The standing population every day's traffic is drawn from: enterprises, trucks and cars.

It depends on the seed only, never on the day or the scale, so the same trucks (and the same
habitual overloaders) come back every day and a case filed next month names a truck that was
weighed today. Built once per process and seed (~0.5 s) and cached.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from enforcement_brain.generate._common import rng_for
from enforcement_brain.standards.checks import (
    CREDIT_CODE_ALPHABET,
    PLATE_FORMS,
    PROVINCE_CHARS,
    XUZHOU_PLATE_PREFIX,
    credit_code_check_char,
    gross_limit_kg,
    id_check_char,
)

N_TRUCKS = 20_000
N_CARS = 150_000
#: Xuzhou's cruising taxis [I]: a few thousand (no published count was found), each making about
#: 20 meter trips a day (code table passenger_service_kind, weight of CRUISE).
N_TAXIS = 3_500
N_XUZHOU_ENTERPRISES = 2_000
N_OTHER_ENTERPRISES = 400

_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I, O (GA 36)
_DIGITS = "0123456789"

#: Where trucks come from: (province, office letter, share, GB/T 2260 code of the city).
#: 苏C is Xuzhou; the rest are the neighbours the report names and the long-haul origins.
TRUCK_ORIGINS = (
    ("苏", "C", 0.58, "320300"),
    ("苏", "N", 0.05, "321300"),  # 宿迁
    ("苏", "G", 0.04, "320700"),  # 连云港
    ("苏", "H", 0.03, "320800"),  # 淮安
    ("苏", "A", 0.02, "320100"),  # 南京
    ("鲁", "D", 0.05, "370400"),  # 枣庄
    ("鲁", "H", 0.05, "370800"),  # 济宁
    ("鲁", "Q", 0.04, "371300"),  # 临沂
    ("鲁", "R", 0.02, "371700"),  # 菏泽
    ("皖", "L", 0.04, "341300"),  # 宿州
    ("皖", "F", 0.03, "340600"),  # 淮北
    ("豫", "N", 0.03, "411400"),  # 商丘
    ("冀", "A", 0.02, "130100"),  # 石家庄
)
_CITY_NAMES = {
    "321300": "宿迁", "320700": "连云港", "320800": "淮安", "320100": "南京", "370400": "枣庄",
    "370800": "济宁", "371300": "临沂", "371700": "菏泽", "341300": "宿州", "340600": "淮北",
    "411400": "商丘", "130100": "石家庄",
}  # fmt: skip
#: Where Xuzhou enterprises are registered (credit-code area), with a name prefix and a weight.
XUZHOU_REGISTRATIONS = (
    ("320300", "徐州", 0.22), ("320302", "徐州", 0.06), ("320303", "徐州", 0.06),
    ("320305", "贾汪", 0.06), ("320311", "徐州", 0.05), ("320312", "铜山", 0.15),
    ("320321", "丰县", 0.07), ("320322", "沛县", 0.08), ("320324", "睢宁", 0.07),
    ("320381", "新沂", 0.09), ("320382", "邳州", 0.09),
)  # fmt: skip
_BRAND = list("鑫恒宏顺通达盛泰华丰利远安祥瑞兴隆福和运宇昌润诚嘉永金海源捷畅")
_TRADE = ("物流有限公司", "运输有限公司", "货运有限公司", "建材有限公司", "汽车运输有限公司",
          "商贸有限公司", "危险品运输有限公司", "供应链管理有限公司")  # fmt: skip
_SURNAMES = list("王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾")
_GIVEN = list("伟强磊军勇杰涛明超刚平辉鹏华飞斌宇浩凯健俊帆建国志文红芳娜静丽敏燕霞玲")

#: Axle-count shares of the goods fleet, and for each count the share that are combinations.
AXLE_SHARES = {2: 0.38, 3: 0.10, 4: 0.14, 5: 0.05, 6: 0.33}
COMBINATION_SHARE = {2: 0.0, 3: 0.15, 4: 0.25, 5: 1.0, 6: 1.0}
#: Axle counts at which some road trains are a truck (H11) drawing a full or centre-axle trailer;
#: the others, and every road train of 5 or more axles, are Q11 tractors with a semi-trailer.
DRAWBAR_AXLES = (3, 4)
#: GA 24.4 types of rigid trucks by axle count, with shares.
RIGID_TYPES = {
    2: (("H11", 0.35), ("H12", 0.15), ("H17", 0.10), ("H21", 0.15), ("H22", 0.05),
        ("H31", 0.15), ("H32", 0.05)),
    3: (("H11", 0.40), ("H12", 0.20), ("H17", 0.30), ("H14", 0.10)),
    4: (("H17", 0.60), ("H11", 0.25), ("H14", 0.15)),
    5: (("H11", 1.0),),
    6: (("H11", 1.0),),
}  # fmt: skip
#: Design gross weight of medium and light trucks: far below the legal limit for 2 axles.
DESIGN_GROSS_KG = {"H2": 12_000, "H3": 4_500}
#: Share of cars carrying a special plate (embassy, consulate, test vehicle, armed police,
#: emergency rescue), one form after another; the forms the fleet builds itself are left out.
SPECIAL_PLATE_SHARE = 0.002
SPECIAL_PLATE_FORMS = tuple(
    f for f in PLATE_FORMS if f.name not in ("ordinary", "nev_small", "nev_large")
)
NEV_TRUCK_SHARE = 0.03
NEV_CAR_SHARE = 0.18
BUS_SHARE = 0.03


@dataclass(frozen=True)
class Fleet:
    """Columnar fleet: index i of every ``truck_*`` array describes truck i, likewise for cars."""

    ent_name: np.ndarray  # str
    ent_credit_code: np.ndarray  # str, valid GB 32100
    ent_area_code: np.ndarray  # str, GB/T 2260 of the registration
    truck_plate: np.ndarray  # str, tractor / rigid plate
    truck_trailer_plate: np.ndarray  # str, "" for rigid trucks
    truck_axles: np.ndarray  # int
    truck_combination: np.ndarray  # bool
    truck_vtype: np.ndarray  # str, GA 24.4
    truck_nev: np.ndarray  # bool
    truck_limit_kg: np.ndarray  # int, legal gross limit
    truck_capacity_kg: np.ndarray  # int, gross when fully (legally) loaded
    truck_owner: np.ndarray  # int, index into ent_*
    truck_activity: np.ndarray  # float, probabilities summing to 1
    truck_overload_weight: np.ndarray  # float, probabilities summing to 1
    car_plate: np.ndarray  # str
    car_nev: np.ndarray  # bool
    car_bus: np.ndarray  # bool
    car_activity: np.ndarray  # float, probabilities summing to 1
    car_taxi: np.ndarray  # int, indices of the cars that are the city's cruising taxis
    person_names: np.ndarray  # str, a pool of driver / party names


def make_credit_code(
    rng: np.random.Generator, area_code: str, registration: str = "9", category: str = "1"
) -> str:
    """A valid GB 32100 credit code registered in ``area_code`` (default: an enterprise, 91).

    New registrations since 2015 carry subject ids like ``MA1X...``; older ones an organisation
    code. The subject id's own GB 11714 check digit is not modelled (the platform does not test it).
    """
    if rng.random() < 0.7:
        subject = "MA" + "".join(_pick(rng, 7, CREDIT_CODE_ALPHABET))
    else:
        subject = "".join(_pick(rng, 8, _DIGITS)) + str(_pick(rng, 1, CREDIT_CODE_ALPHABET)[0])
    first17 = f"{registration}{category}{area_code}{subject}"
    return first17 + credit_code_check_char(first17)


def make_id_number(rng: np.random.Generator, area_code: str, birth: str) -> str:
    """A valid GB 11643 resident ID for ``area_code`` and birth date ``YYYYMMDD``."""
    first17 = f"{area_code}{birth}{int(rng.integers(0, 1000)):03d}"
    return first17 + id_check_char(first17)


def _pick(rng: np.random.Generator, k: int, chars: str) -> np.ndarray:
    """``k`` characters drawn uniformly from ``chars``, as an object array (concatenates with +)."""
    return np.array(list(chars), dtype=object)[rng.integers(0, len(chars), k)]


def _serial(rng: np.random.Generator, k: int, length: int, letter_share: float) -> np.ndarray:
    """``k`` plate serials: a letter first with ``letter_share``, later 10 % of the time."""
    out = np.full(k, "", dtype=object)
    for pos in range(length):
        share = letter_share if pos == 0 else 0.1
        out = out + np.where(rng.random(k) < share, _pick(rng, k, _LETTERS), _pick(rng, k, _DIGITS))
    return out


#: What each placeholder of a :class:`~enforcement_brain.standards.checks.PlateForm` template
#: stands for.
_TEMPLATE_CHARS = {
    "P": PROVINCE_CHARS,
    "L": _LETTERS,
    "A": _LETTERS + _DIGITS,
    "D": _DIGITS,
    "E": "DABCEFGHJK",
}


def fill_plate_template(rng: np.random.Generator, template: str, k: int) -> np.ndarray:
    """``k`` plates filled from a plate form's ``template`` (``{P}`` province, ``{L}`` office
    letter, ``{A}`` letter or digit, ``{D}`` digit, ``{E}`` energy letter; the rest literal)."""
    out = np.full(k, "", dtype=object)
    for i, part in enumerate(template.replace("}", "{").split("{")):
        # Odd pieces sat between braces: placeholders; even pieces are literal text.
        out = out + (_pick(rng, k, _TEMPLATE_CHARS[part]) if i % 2 else part)
    return out


def digit_strings(rng: np.random.Generator, k: int, length: int) -> np.ndarray:
    """``k`` strings of ``length`` random digits."""
    out = np.full(k, "", dtype=object)
    for _ in range(length):
        out = out + _pick(rng, k, _DIGITS)
    return out


def distinct_values(
    rng: np.random.Generator,
    n: int,
    make: Callable[[np.random.Generator, int], np.ndarray],
    taken: set[str] | None = None,
) -> np.ndarray:
    """``n`` distinct values from ``make(rng, k)`` not in ``taken``; first occurrences kept.

    Serials are made distinct, so plates stay distinct whatever province prefix they get.
    """
    taken = set() if taken is None else taken
    out: list[str] = []
    while len(out) < n:
        for value in make(rng, int((n - len(out)) * 1.2) + 16):
            if value not in taken:
                taken.add(value)
                out.append(value)
                if len(out) == n:
                    break
    return np.array(out, dtype=object)


def _prefixes(rng: np.random.Generator, k: int, origins: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Province + office letter for ``k`` vehicles drawn by origin share, and the origin index."""
    shares = np.array([o[2] for o in origins])
    which = rng.choice(len(origins), size=k, p=shares / shares.sum())
    prefix = np.array([o[0] + o[1] for o in origins], dtype=object)[which]
    return prefix, which


def _special_plates(rng: np.random.Generator, plate: np.ndarray, nev: np.ndarray) -> None:
    """Give :data:`SPECIAL_PLATE_SHARE` of the non-NEV ``plate`` s a special form, in place.

    Its own random stream, so the rest of the fleet is the same with or without them.
    """
    idx = np.flatnonzero(~nev)
    idx = idx[rng.random(len(idx)) < SPECIAL_PLATE_SHARE]
    taken = set(plate)
    for i, form in zip(idx, np.resize(np.arange(len(SPECIAL_PLATE_FORMS)), len(idx)), strict=True):
        template = SPECIAL_PLATE_FORMS[form].template
        plate[i] = distinct_values(
            rng, 1, lambda r, k, t=template: fill_plate_template(r, t, k), taken
        )[0]


@functools.lru_cache(maxsize=4)
def build_fleet(seed: int) -> Fleet:
    """The fleet for ``seed``. Cached and shared, so its arrays are read-only."""
    rng = rng_for(seed, "fleet")

    # -- enterprises: Xuzhou first, then one pool per outside origin city ---------------------
    reg_w = np.array([r[2] for r in XUZHOU_REGISTRATIONS])
    reg = rng.choice(len(XUZHOU_REGISTRATIONS), N_XUZHOU_ENTERPRISES, p=reg_w / reg_w.sum())
    areas = [XUZHOU_REGISTRATIONS[i][0] for i in reg]
    name_prefix = [XUZHOU_REGISTRATIONS[i][1] for i in reg]
    outside = [o[3] for o in TRUCK_ORIGINS[1:]]
    for k in range(N_OTHER_ENTERPRISES):
        area = outside[k % len(outside)]
        areas.append(area)
        name_prefix.append(_CITY_NAMES[area])
    names: list[str] = []
    used: set[str] = set()
    for prefix in name_prefix:
        while True:
            brand = "".join(rng.choice(_BRAND, 2, replace=False))
            name = f"{prefix}{brand}{_TRADE[int(rng.integers(0, len(_TRADE)))]}"
            if name not in used:
                used.add(name)
                names.append(name)
                break
    codes = [make_credit_code(rng, a) for a in areas]
    ent_area = np.array(areas, dtype=object)

    # -- trucks ---------------------------------------------------------------------------------
    axle_keys = np.array(list(AXLE_SHARES))
    axles = rng.choice(axle_keys, N_TRUCKS, p=np.array(list(AXLE_SHARES.values())))
    combination = rng.random(N_TRUCKS) < np.array([COMBINATION_SHARE[a] for a in axles])
    vtype = np.empty(N_TRUCKS, dtype=object)
    for a, types in RIGID_TYPES.items():
        idx = np.flatnonzero((axles == a) & ~combination)
        w = np.array([t[1] for t in types])
        vtype[idx] = np.array([t[0] for t in types], dtype=object)[
            rng.choice(len(types), len(idx), p=w / w.sum())
        ]
    vtype[combination] = "Q11"
    # Half the 3- and 4-axle road trains are a truck drawing a full or centre-axle trailer: the
    # truck's own type (H11) and a trailer plate, judged with the road-train limits all the same.
    drawbar = combination & np.isin(axles, DRAWBAR_AXLES) & (np.arange(N_TRUCKS) % 2 == 0)
    vtype[drawbar] = "H11"
    nev = rng.random(N_TRUCKS) < NEV_TRUCK_SHARE
    prefix, origin = _prefixes(rng, N_TRUCKS, TRUCK_ORIGINS)
    ordinary = distinct_values(rng, N_TRUCKS, lambda r, k: _serial(r, k, 5, 0.4))
    # Large NEV plates: five digits, then the energy letter (D pure electric, F other).
    nev_serial = distinct_values(
        rng,
        N_TRUCKS,
        lambda r, k: digit_strings(r, k, 5) + np.where(r.random(k) < 0.85, "D", "F"),
    )
    plate = prefix + np.where(nev, nev_serial, ordinary)
    trailer_serial = distinct_values(rng, N_TRUCKS, lambda r, k: _serial(r, k, 4, 0.2))
    trailer = np.where(combination, prefix + trailer_serial + "挂", "").astype(object)
    limit = np.array(
        [gross_limit_kg(int(a), bool(c)) for a, c in zip(axles, combination, strict=True)]
    )
    capacity = limit.copy()
    for head, design in DESIGN_GROSS_KG.items():
        capacity[np.char.startswith(vtype.astype(str), head)] = design
    # Owners: Xuzhou trucks to Xuzhou enterprises with a few big fleets (Zipf-like), outside
    # trucks to enterprises of their own city.
    owner = np.empty(N_TRUCKS, dtype=np.int64)
    xz = np.flatnonzero(origin == 0)
    zipf = 1.0 / np.arange(1, N_XUZHOU_ENTERPRISES + 1) ** 0.8
    owner[xz] = rng.permutation(N_XUZHOU_ENTERPRISES)[
        rng.choice(N_XUZHOU_ENTERPRISES, len(xz), p=zipf / zipf.sum())
    ]
    for o in range(1, len(TRUCK_ORIGINS)):
        idx = np.flatnonzero(origin == o)
        pool = N_XUZHOU_ENTERPRISES + np.flatnonzero(
            ent_area[N_XUZHOU_ENTERPRISES:] == TRUCK_ORIGINS[o][3]
        )
        owner[idx] = rng.choice(pool, len(idx))
    activity = rng.lognormal(0.0, 0.8, N_TRUCKS)
    # Overloading is a habit of heavy trucks, tippers above all, and of a few repeat offenders.
    heavy = ~np.isin(capacity, list(DESIGN_GROSS_KG.values()))
    habit = rng.lognormal(0.0, 1.2, N_TRUCKS) * heavy
    habit[vtype == "H17"] *= 3.0

    # -- cars -------------------------------------------------------------------------------------
    car_origins = tuple(
        (p, o, 0.82 if (p, o) == ("苏", "C") else s * 0.43, a) for p, o, s, a in TRUCK_ORIGINS
    )
    car_prefix, _ = _prefixes(rng, N_CARS, car_origins)
    car_nev = rng.random(N_CARS) < NEV_CAR_SHARE
    car_ordinary = distinct_values(rng, N_CARS, lambda r, k: _serial(r, k, 5, 0.5), set(ordinary))
    # Small NEV plates: the energy letter, a letter or digit, then four digits.
    car_nev_serial = distinct_values(
        rng,
        N_CARS,
        lambda r, k: (
            np.where(r.random(k) < 0.8, "D", "F").astype(object)
            + np.where(r.random(k) < 0.3, _pick(r, k, _LETTERS), _pick(r, k, _DIGITS))
            + digit_strings(r, k, 4)
        ),
    )
    car_plate = car_prefix + np.where(car_nev, car_nev_serial, car_ordinary)
    ordinary_plate = car_plate.copy()
    _special_plates(rng_for(seed, "fleet", "special_plates"), car_plate, car_nev)
    car_bus = ~car_nev & (rng.random(N_CARS) < BUS_SHARE)
    # The taxis: the first Xuzhou-registered cars (苏C) with an ordinary or NEV plate that are not
    # buses. Chosen without drawing, so the rest of the fleet is the same with or without them.
    xuzhou_car = np.char.startswith(car_plate.astype(str), XUZHOU_PLATE_PREFIX)
    car_taxi = np.flatnonzero(xuzhou_car & (car_plate == ordinary_plate) & ~car_bus)[:N_TAXIS]
    car_activity = rng.lognormal(0.0, 1.0, N_CARS)

    persons = np.array(
        [
            str(rng.choice(_SURNAMES))
            + "".join(rng.choice(_GIVEN, int(rng.integers(1, 3)), replace=False))
            for _ in range(5_000)
        ],
        dtype=object,
    )
    fleet = Fleet(
        ent_name=np.array(names, dtype=object),
        ent_credit_code=np.array(codes, dtype=object),
        ent_area_code=ent_area,
        truck_plate=plate,
        truck_trailer_plate=trailer,
        truck_axles=axles,
        truck_combination=combination,
        truck_vtype=vtype,
        truck_nev=nev,
        truck_limit_kg=limit,
        truck_capacity_kg=capacity,
        truck_owner=owner,
        truck_activity=activity / activity.sum(),
        truck_overload_weight=habit / habit.sum(),
        car_plate=car_plate,
        car_nev=car_nev,
        car_bus=car_bus,
        car_activity=car_activity / car_activity.sum(),
        car_taxi=car_taxi,
        person_names=persons,
    )
    for f in dataclasses.fields(fleet):  # shared through the cache: make accidents loud
        getattr(fleet, f.name).flags.writeable = False
    return fleet
