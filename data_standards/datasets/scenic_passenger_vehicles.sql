-- Medium and large passenger vehicles approaching each scenic spot, per day.
-- The spots' high-altitude counting cameras are not one of the 28 sources, so the count is made
-- from ANPR: passes at the checkpoints of the spot's division by plates the operating-vehicle
-- register lists as medium or large buses (vehicle type K1x/K2x). Every scenic spot gets a row
-- for every day in the input, zero when none passed.
WITH spots AS (
  SELECT code AS scenic_code, name_zh AS scenic_name_zh, division_code
  FROM ref.video_channels
  WHERE location_kind = 'scenic_spot'
),
buses AS (
  SELECT DISTINCT plate_no
  FROM silver.operating_vehicles
  WHERE substring(vehicle_type_code, 1, 2) IN ('K1', 'K2')
),
bus_passes AS (
  SELECT a.* FROM silver.anpr_passes a LEFT SEMI JOIN buses b ON b.plate_no = a.plate_no
),
passes AS (
  SELECT p.biz_date, c.division_code,
         count(1) AS passes,
         count(DISTINCT p.plate_no) AS vehicles
  FROM bus_passes p
  JOIN ref.checkpoints c ON c.code = p.checkpoint_code
  GROUP BY p.biz_date, c.division_code
),
checkpoints AS (
  SELECT division_code, count(1) AS checkpoints FROM ref.checkpoints GROUP BY division_code
),
days AS (
  SELECT DISTINCT biz_date FROM silver.anpr_passes
)
SELECT
  s.scenic_code,
  s.scenic_name_zh,
  s.division_code,
  CAST(coalesce(k.checkpoints, 0) AS INT) AS checkpoints,
  CAST(coalesce(p.passes, 0) AS INT) AS passes,
  CAST(coalesce(p.vehicles, 0) AS INT) AS vehicles,
  d.biz_date
FROM days d
CROSS JOIN spots s
LEFT JOIN passes p ON p.biz_date = d.biz_date AND p.division_code = s.division_code
LEFT JOIN checkpoints k ON k.division_code = s.division_code
