-- 12328 complaints per industry and day, per 10,000 of the industry's trips that day (巡游出租汽车
-- 每万运次投诉热线工单数 for the taxis). Tickets are placed by the day they were received, not by
-- their last update; a trip's industry is its service kind's (ref.passenger_service_kind: the
-- taxis' meter trips, the ride-hailing orders), as a ticket's is its category's.
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
  SELECT t.biz_date, k.industry, count(1) AS trips
  FROM silver.passenger_trips t
  JOIN ref.passenger_service_kind k ON k.code = t.service_kind
  GROUP BY t.biz_date, k.industry
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
