-- Overload alerts: every WIM weighing over its legal limit (Order 2016-62 Art. 3), with the
-- excess, the fine it would carry (Art. 43), whether the scale's error band leaves it to a
-- static re-weigh and whether it is enforceable: the site's scale was within its verification
-- on the weighing day and the excess lies beyond its tolerance. An alert of a site whose
-- verification had lapsed is listed and counted, and is not enforceable.
WITH trains AS (
  -- every 汽车列车 (definition road_train) takes the road-train limits
  SELECT w.*, is_road_train(w.vehicle_type_code, w.plate_no, w.trailer_plate_no) AS is_combination
  FROM silver.wim_weighings w
),
weighed AS (
  SELECT t.*, legal_limit_kg(t.axle_count, t.is_combination) AS limit_kg
  FROM trains t
),
judged AS (
  SELECT w.*,
         s.road,
         s.division_code,
         s.accuracy_class,
         c.in_service_tolerance AS wim_tolerance,
         -- JJG 907-2006: a scale may err by its class's tolerance in service; inside that band
         -- WIM is not evidence (a site without a known class never is).
         coalesce(w.gross_weight_kg * (1 - c.in_service_tolerance) <= w.limit_kg, true)
           AS needs_static_reweigh,
         -- 《行政处罚法》2021 第四十一条: only a device that passed its review fixes the facts.
         coalesce(valid_on(w.biz_date, NULL, CAST(s.verified_until AS DATE)), false)
           AS site_verified
  FROM weighed w
  LEFT JOIN ref.wim_sites s ON s.code = w.site_code
  LEFT JOIN ref.wim_accuracy_class c ON c.code = s.accuracy_class
  WHERE w.gross_weight_kg - w.limit_kg > 0
)
SELECT
  w.record_id AS alert_id,
  w.site_code,
  w.road,
  w.division_code,
  w.plate_no,
  w.plate_color,
  w.vehicle_type_code,
  w.axle_count,
  w.is_combination,
  w.gross_weight_kg,
  w.limit_kg,
  CAST(w.gross_weight_kg - w.limit_kg AS INT) AS excess_kg,
  round((w.gross_weight_kg - w.limit_kg) / w.limit_kg, 4) AS excess_rate,
  fine_yuan(w.gross_weight_kg - w.limit_kg) AS fine_yuan,
  w.accuracy_class,
  w.wim_tolerance,
  w.needs_static_reweigh,
  w.site_verified,
  w.site_verified AND NOT w.needs_static_reweigh AS is_enforceable,
  is_bai_dun_wang(w.gross_weight_kg) AS is_bai_dun_wang,
  is_shuang_bai(w.gross_weight_kg, w.limit_kg) AS is_shuang_bai,
  w.weigh_time,
  w.biz_date
FROM judged w
