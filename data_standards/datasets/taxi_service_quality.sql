-- 12328 complaints per industry and day, per 10,000 trips where the trips are known.
-- Tickets are placed by the day they were received, not by their last update. The lake holds
-- ride-hailing orders but no cruising-taxi trip records (none of the 28 sources), so taxi rows
-- carry complaints and a null rate.
WITH complaints AS (
  SELECT to_date(t.received_at) AS biz_date,
         c.industry,
         count(1) AS complaints,
         sum(CAST(coalesce(t.substantiated, false) AS INT)) AS substantiated
  FROM silver.complaint_tickets t
  JOIN ref.complaint_category c ON c.code = t.category
  WHERE c.industry IN ('taxi', 'ride_hailing')
  GROUP BY to_date(t.received_at), c.industry
),
trips AS (
  SELECT biz_date, 'ride_hailing' AS industry, count(1) AS trips
  FROM silver.ride_hailing_orders
  GROUP BY biz_date
),
merged AS (
  SELECT coalesce(c.biz_date, t.biz_date) AS biz_date,
         coalesce(c.industry, t.industry) AS industry,
         coalesce(c.complaints, 0) AS complaints,
         c.substantiated,
         t.trips
  FROM complaints c
  FULL JOIN trips t ON t.biz_date = c.biz_date AND t.industry = c.industry
)
SELECT
  industry,
  CAST(complaints AS INT) AS complaints,
  CAST(coalesce(substantiated, 0) AS INT) AS substantiated,
  CAST(trips AS BIGINT) AS trips,
  safe_ratio(complaints * 10000.0D, trips) AS complaints_per_10k_trips,
  biz_date
FROM merged
