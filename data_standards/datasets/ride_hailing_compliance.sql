-- Per platform and day: orders served by vehicles with a valid ride-hailing vehicle permit, and
-- whether the platform itself held a valid platform permit that day. The orders are the ONLINE
-- passenger trips, their operator the platform.
WITH orders AS (
  SELECT operator_credit_code AS platform_credit_code, plate_no, biz_date
  FROM silver.passenger_trips
  WHERE service_kind = 'ONLINE'
),
permitted AS (
  SELECT DISTINCT k.plate_no, k.biz_date
  FROM (SELECT DISTINCT plate_no, biz_date FROM orders) k
  JOIN silver.ride_hailing_permits p ON p.plate_no = k.plate_no
  WHERE p.permit_kind = 'VEHICLE' AND valid_on(k.biz_date, p.valid_from, p.valid_until)
),
per_platform AS (
  SELECT o.biz_date,
         o.platform_credit_code,
         count(1) AS orders,
         count(DISTINCT o.plate_no) AS vehicles,
         sum(CASE WHEN pm.plate_no IS NOT NULL THEN 1 ELSE 0 END) AS permitted
  FROM orders o
  LEFT JOIN permitted pm ON pm.plate_no = o.plate_no AND pm.biz_date = o.biz_date
  GROUP BY o.biz_date, o.platform_credit_code
),
licensed AS (
  SELECT DISTINCT pp.platform_credit_code, pp.biz_date
  FROM per_platform pp
  JOIN silver.ride_hailing_permits p ON p.platform_credit_code = pp.platform_credit_code
  WHERE p.permit_kind = 'PLATFORM' AND valid_on(pp.biz_date, p.valid_from, p.valid_until)
)
SELECT
  pp.platform_credit_code,
  l.platform_credit_code IS NOT NULL AS platform_licensed,
  CAST(pp.orders AS INT) AS orders,
  CAST(pp.vehicles AS INT) AS vehicles,
  CAST(pp.permitted AS INT) AS orders_permitted_vehicle,
  CAST(pp.orders - pp.permitted AS INT) AS orders_unpermitted_vehicle,
  safe_ratio(pp.permitted, pp.orders) AS vehicle_compliance_rate,
  pp.biz_date
FROM per_platform pp
LEFT JOIN licensed l
  ON l.platform_credit_code = pp.platform_credit_code AND l.biz_date = pp.biz_date
