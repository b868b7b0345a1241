-- Over-limit WIM weighings of vehicles that hold an oversize permit, judged against it.
-- A vehicle with a permit is exempt only inside it: a weighing is a violation when no permit of
-- the plate is valid that day, or the valid one allows less weight or other axles. Weighings of
-- vehicles without any permit are plain overload alerts, not listed here.
WITH overweight AS (
  SELECT w.*, legal_limit_kg(w.axle_count, is_road_train(w.vehicle_type_code, w.plate_no, w.trailer_plate_no)) AS limit_kg
  FROM silver.wim_weighings w
  WHERE is_recognised_plate(w.plate_no)
    AND w.gross_weight_kg > legal_limit_kg(w.axle_count, is_road_train(w.vehicle_type_code, w.plate_no, w.trailer_plate_no))
),
judged AS (
  SELECT o.*,
         p.permit_no,
         p.axle_count AS permitted_axles,
         p.gross_weight_kg AS permitted_gross_kg,
         valid_on(o.biz_date, p.valid_from, p.valid_until) AS permit_valid,
         row_number() OVER (
           PARTITION BY o.record_id
           ORDER BY valid_on(o.biz_date, p.valid_from, p.valid_until) DESC,
                    p.valid_until DESC NULLS FIRST, p.permit_no
         ) AS n
  FROM overweight o
  JOIN silver.oversize_permits p ON p.plate_no = o.plate_no
),
chosen AS (
  SELECT *,
         CASE
           WHEN NOT permit_valid THEN 'NO_VALID_PERMIT'
           WHEN gross_weight_kg > permitted_gross_kg THEN 'OVER_PERMITTED_WEIGHT'
           WHEN axle_count <> permitted_axles THEN 'AXLES_NOT_AS_PERMITTED'
         END AS violation
  FROM judged
  WHERE n = 1
)
SELECT
  record_id,
  site_code,
  plate_no,
  axle_count,
  gross_weight_kg,
  CAST(limit_kg AS INT) AS limit_kg,
  permit_no,
  permit_valid,
  permitted_axles,
  permitted_gross_kg,
  violation,
  weigh_time,
  biz_date
FROM chosen
WHERE violation IS NOT NULL
