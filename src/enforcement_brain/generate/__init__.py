"""Synthetic source systems: a day of WIM files, ANPR files and case-system rows.

The generator stands in for the agency's feeds so the whole platform runs on one laptop and in
CI. It is deterministic (same day, seed, scale and defect rate give the same bytes), coherent
(one fleet of trucks and enterprises across sources and days) and honest about its defects: every
injected defect is listed in a ground-truth file so the platform's quarantine can be scored.

Ground truth: ``<var>/ground_truth/<YYYY-MM-DD>/defects.csv`` with columns
``source,business_key,file,line,defect``. ``file`` is relative to the landing root
(``wim_weighings/2026-11-29/wim_WIM320321001_20261129.csv``) or the table name (``enf_case``);
``line`` is the 1-based physical line (a CSV header is line 1), empty for the table;
``business_key`` is empty when the defect destroyed it (a truncated JSON line). One row per
defective delivered row; for ``duplicate``, the later copy. Defects and the rule meant to catch
them:

==================  ======================  ===================================================
defect              sources                 caught by
==================  ======================  ===================================================
bad_plate           wim, anpr, cases        R_PLATE_FORMAT (never ``-``: that one is clean)
impossible_weight   wim                     R_GROSS_WEIGHT_RANGE (0, negative, > 200 t)
bad_axle_count      wim                     R_AXLE_RANGE (0 or 12)
bad_time            wim, anpr               R_EVENT_TIME_PARSES (empty, 25:61:00, 02-30 ...)
duplicate           wim, anpr               de-duplication on the business key (exact copy)
broken_line         wim, anpr               R_RECORD_PARSES (JSON cut short; CSV line missing
                                            its last 2-4 fields, so weigh_time is always null)
unknown_site        wim                     R_SITE_KNOWN
unknown_checkpoint  anpr                    R_CHECKPOINT_KNOWN
bad_speed           anpr                    R_SPEED_RANGE (< 0 or > 300 km/h)
bad_credit_code     cases                   R_CREDIT_CODE_CHECK (wrong check character)
bad_division        cases                   R_DIVISION_XUZHOU (another city's code)
late                wim, anpr               nothing: NOT a defect. A clean row whose event time
                                            is on the previous day, delivered today; it must
                                            be loaded (into the previous business date).
==================  ======================  ===================================================
"""

from enforcement_brain.generate.day import GenerationResult, generate_day, ground_truth_path

__all__ = ["GenerationResult", "generate_day", "ground_truth_path"]
