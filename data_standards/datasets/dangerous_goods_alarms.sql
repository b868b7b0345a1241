-- Positioning alarms of dangerous-goods vehicles (use nature R) with their papers: the
-- vehicle's latest operating certificate and its operator's name. An operator registered twice
-- under one credit code is named by the entry updated last.
WITH certificates AS (
  SELECT plate_no, certificate_no, valid_until AS certificate_until
  FROM (
    SELECT v.*,
           row_number() OVER (
             PARTITION BY v.plate_no ORDER BY v.valid_until DESC NULLS LAST, v.certificate_no
           ) AS n
    FROM silver.operating_vehicles v
  )
  WHERE n = 1
),
operators AS (
  SELECT credit_code AS operator_credit_code, operator_name
  FROM (
    SELECT r.*,
           row_number() OVER (
             PARTITION BY r.credit_code ORDER BY r.updated_at DESC, r.operator_id DESC
           ) AS n
    FROM silver.road_transport_operators r
  )
  WHERE n = 1
)
SELECT
  a.alarm_id,
  a.plate_no,
  a.alarm_type,
  t.name_zh AS alarm_name_zh,
  a.speed_kmh,
  a.lon,
  a.lat,
  a.operator_credit_code,
  o.operator_name,
  c.certificate_no,
  c.certificate_until >= a.biz_date AS certificate_valid,
  a.alarm_time,
  a.biz_date
FROM silver.gps_alarms a
LEFT JOIN ref.gps_alarm_type t ON t.code = a.alarm_type
LEFT JOIN certificates c ON c.plate_no = a.plate_no
LEFT JOIN operators o ON o.operator_credit_code = a.operator_credit_code
WHERE a.use_nature = 'R'
