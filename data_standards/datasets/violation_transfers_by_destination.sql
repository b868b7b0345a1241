-- 抄告 (violation transfers) counted per day, direction, destination area and violation, with
-- those sent within 7 working days of the case's closure (Order 2016-62 Art. 44; a transfer
-- without a closure time is not counted as in time).
WITH counted AS (
  SELECT biz_date, direction, to_area, violation_code,
         count(1) AS transfers,
         count(DISTINCT plate_no) AS vehicles,
         count_if(coalesce(is_transfer_on_time(case_closed_at, transferred_at), false))
           AS transfers_on_time
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
  CAST(c.transfers_on_time AS INT) AS transfers_on_time,
  c.biz_date
FROM counted c
LEFT JOIN ref.violation_codes v ON v.code = c.violation_code
