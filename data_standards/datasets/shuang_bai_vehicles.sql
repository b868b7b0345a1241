-- 双百 and 百吨王 weighings from WIM and static re-weighs: the list shared with the police.
-- A WIM limit is computed from axles and vehicle type; a static station states the limit it
-- applied (it sees the vehicle's configuration), so its limit is taken as delivered. Unread
-- plates are left out: the list names vehicles.
WITH weighings AS (
  SELECT concat('WIM:', record_id) AS event_id,
         'WIM' AS weigh_kind,
         record_id,
         site_code,
         plate_no,
         axle_count,
         gross_weight_kg,
         legal_limit_kg(axle_count, is_road_train(vehicle_type_code, plate_no, trailer_plate_no)) AS limit_kg,
         weigh_time,
         biz_date
  FROM silver.wim_weighings
  UNION ALL
  SELECT concat('STATIC:', reweigh_id), 'STATIC', reweigh_id, site_code, plate_no, axle_count,
         gross_weight_kg, CAST(limit_kg AS INT), weigh_time, biz_date
  FROM silver.static_reweighs
)
SELECT
  event_id,
  weigh_kind,
  record_id,
  site_code,
  plate_no,
  is_xuzhou_plate(plate_no) AS is_xuzhou_plate,
  axle_count,
  gross_weight_kg,
  limit_kg,
  CAST(gross_weight_kg - limit_kg AS INT) AS excess_kg,
  safe_ratio(gross_weight_kg - limit_kg, limit_kg) AS excess_rate,
  is_bai_dun_wang(gross_weight_kg) AS is_bai_dun_wang,
  weigh_time,
  biz_date
FROM weighings
WHERE is_recognised_plate(plate_no) AND is_shuang_bai(gross_weight_kg, limit_kg)
