-- 抄告 (violation transfers) counted per day, direction, destination area and violation.
WITH counted AS (
  SELECT biz_date, direction, to_area, violation_code,
         count(1) AS transfers,
         count(DISTINCT plate_no) AS vehicles
  FROM silver.violation_transfers
  GROUP BY biz_date, direction, to_area, violation_code
)
SELECT
  c.direction,
  c.to_area,
  is_out_of_province(c.to_area) AS is_out_of_province,
  c.violation_code,
  v.name_zh AS violation_name_zh,
  CAST(c.transfers AS INT) AS transfers,
  CAST(c.vehicles AS INT) AS vehicles,
  c.biz_date
FROM counted c
LEFT JOIN ref.violation_codes v ON v.code = c.violation_code
