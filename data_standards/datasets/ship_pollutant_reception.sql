-- Ship pollutant receipts per port, pollutant and day: ship-visits, quantity, disposal and
-- delivery. A receipt is one ship-visit handing over one pollutant. The delivery ratio (送交比例)
-- is received ÷ what the ships should have handed over (the expected quantity of their
-- declarations): above 1 when ships hand over more than declared; null when nothing was
-- expected (zero declarations only). Quantities are in the pollutant type's unit (column unit:
-- t or m3).
WITH received AS (
  SELECT biz_date, port_code, pollutant_type,
         count(1) AS ship_visits,
         count(DISTINCT ship_id) AS ships,
         sum(quantity) AS quantity,
         sum(expected_quantity) AS expected,
         sum(CASE WHEN handed_to_disposal THEN quantity ELSE 0.0D END) AS disposed
  FROM silver.pollutant_receipts
  GROUP BY biz_date, port_code, pollutant_type
)
SELECT
  r.port_code,
  r.pollutant_type,
  u.unit,
  CAST(r.ship_visits AS INT) AS ship_visits,
  CAST(r.ships AS INT) AS ships,
  round(r.quantity, 3) AS quantity,
  round(r.expected, 3) AS expected_quantity,
  round(r.disposed, 3) AS disposed_quantity,
  safe_ratio(r.disposed, r.quantity) AS disposal_ratio,
  safe_ratio(r.quantity, r.expected) AS delivery_ratio,
  r.biz_date
FROM received r
LEFT JOIN ref.pollutant_type u ON u.code = r.pollutant_type
