-- Each illegal-operation lead checked against the day's ANPR passes, ride-hailing orders (the
-- ONLINE passenger trips; a taxi's meter trips are its licensed work) and permits. A plate with ride-hailing orders but no valid vehicle permit is the strongest lead; a
-- plate seen at least min_anpr_passes times at checkpoints that is neither a licensed taxi nor a
-- permitted ride-hailing vehicle comes next.
WITH plates AS (
  SELECT DISTINCT plate_no, biz_date FROM silver.illegal_operation_leads
),
anpr AS (
  SELECT a.plate_no, a.biz_date,
         count(1) AS anpr_passes,
         count(DISTINCT a.checkpoint_code) AS checkpoints_seen
  FROM silver.anpr_passes a
  LEFT SEMI JOIN plates p ON p.plate_no = a.plate_no AND p.biz_date = a.biz_date
  GROUP BY a.plate_no, a.biz_date
),
orders AS (
  SELECT o.plate_no, o.biz_date, count(1) AS ride_hailing_orders
  FROM silver.passenger_trips o
  LEFT SEMI JOIN plates p ON p.plate_no = o.plate_no AND p.biz_date = o.biz_date
  WHERE o.service_kind = 'ONLINE'
  GROUP BY o.plate_no, o.biz_date
),
permitted AS (
  SELECT DISTINCT p.plate_no, p.biz_date
  FROM plates p
  JOIN silver.ride_hailing_permits r ON r.plate_no = p.plate_no
  WHERE r.permit_kind = 'VEHICLE' AND valid_on(p.biz_date, r.valid_from, r.valid_until)
),
taxis AS (
  SELECT DISTINCT plate_no
  FROM silver.taxi_vehicles_drivers
  WHERE coalesce(active, true)
),
checked AS (
  SELECT l.*,
         CAST(coalesce(a.anpr_passes, 0) AS INT) AS passes,
         CAST(coalesce(a.checkpoints_seen, 0) AS INT) AS n_checkpoints,
         CAST(coalesce(o.ride_hailing_orders, 0) AS INT) AS n_orders,
         pm.plate_no IS NOT NULL AS has_permit,
         t.plate_no IS NOT NULL AS is_taxi
  FROM silver.illegal_operation_leads l
  LEFT JOIN anpr a ON a.plate_no = l.plate_no AND a.biz_date = l.biz_date
  LEFT JOIN orders o ON o.plate_no = l.plate_no AND o.biz_date = l.biz_date
  LEFT JOIN permitted pm ON pm.plate_no = l.plate_no AND pm.biz_date = l.biz_date
  LEFT JOIN taxis t ON t.plate_no = l.plate_no
)
SELECT
  lead_id,
  lead_type,
  plate_no,
  score,
  sightings,
  division_code,
  passes AS anpr_passes,
  n_checkpoints AS checkpoints_seen,
  n_orders AS ride_hailing_orders,
  has_permit AS has_vehicle_permit,
  is_taxi AS is_licensed_taxi,
  CASE
    WHEN n_orders > 0 AND NOT has_permit THEN 'RIDE_HAILING_WITHOUT_PERMIT'
    WHEN passes >= min_anpr_passes AND NOT has_permit AND NOT is_taxi THEN 'FREQUENT_UNLICENSED'
    ELSE 'UNCONFIRMED'
  END AS finding,
  created_at,
  biz_date
FROM checked
