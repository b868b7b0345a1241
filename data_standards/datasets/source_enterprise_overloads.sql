-- Outbound weighings of source enterprises over the legal limit, traced to the road.
-- A ticket does not say whether the vehicle is a combination, so the higher (combination) limit
-- applies from 3 axles up: the enterprise gets the benefit of the doubt. Each overloaded ticket
-- is linked to the first WIM weighing of the same plate later the same day, the evidence that
-- the load reached the road.
WITH overloaded AS (
  SELECT t.*, legal_limit_kg(t.axle_count, t.axle_count >= 3) AS limit_kg
  FROM silver.source_enterprise_weighings t
  WHERE is_recognised_plate(t.plate_no)
    AND t.gross_weight_kg > legal_limit_kg(t.axle_count, t.axle_count >= 3)
),
traced AS (
  SELECT o.*,
         w.record_id AS wim_record_id,
         w.site_code AS wim_site_code,
         w.gross_weight_kg AS wim_gross_weight_kg,
         w.weigh_time AS wim_weigh_time,
         row_number() OVER (
           PARTITION BY o.ticket_no ORDER BY w.weigh_time ASC NULLS LAST, w.record_id
         ) AS n
  FROM overloaded o
  LEFT JOIN silver.wim_weighings w
    ON w.plate_no = o.plate_no AND w.biz_date = o.biz_date AND w.weigh_time >= o.weigh_time
)
SELECT
  ticket_no,
  enterprise_credit_code,
  enterprise_name,
  plate_no,
  axle_count,
  gross_weight_kg,
  tare_kg,
  net_kg,
  CAST(limit_kg AS INT) AS limit_kg,
  CAST(gross_weight_kg - limit_kg AS INT) AS excess_kg,
  safe_ratio(gross_weight_kg - limit_kg, limit_kg) AS excess_rate,
  is_shuang_bai(gross_weight_kg, limit_kg) AS is_shuang_bai,
  wim_record_id,
  wim_site_code,
  wim_gross_weight_kg,
  wim_weigh_time,
  weigh_time,
  biz_date
FROM traced
WHERE n = 1
