-- Overload alerts: every WIM weighing over its legal limit (Order 2016-62 Art. 3), with the
-- excess, the fine it would carry (Art. 43) and whether the scale's error band leaves it to a
-- static re-weigh.
WITH trains AS (
  -- every 汽车列车 (definition road_train) takes the road-train limits
  SELECT w.*, is_road_train(w.vehicle_type_code, w.plate_no, w.trailer_plate_no) AS is_combination
  FROM silver.wim_weighings w
),
weighed AS (
  SELECT t.*, legal_limit_kg(t.axle_count, t.is_combination) AS limit_kg
  FROM trains t
)
SELECT
  w.record_id AS alert_id,
  w.site_code,
  s.road,
  s.division_code,
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
  -- JJG 907-2006: a dynamic scale may err by 5 %; inside that band WIM is not evidence.
  w.gross_weight_kg * 0.95D <= w.limit_kg AS needs_static_reweigh,
  is_bai_dun_wang(w.gross_weight_kg) AS is_bai_dun_wang,
  is_shuang_bai(w.gross_weight_kg, w.limit_kg) AS is_shuang_bai,
  w.weigh_time,
  w.biz_date
FROM weighed w
LEFT JOIN ref.wim_sites s ON s.code = w.site_code
WHERE w.gross_weight_kg - w.limit_kg > 0
