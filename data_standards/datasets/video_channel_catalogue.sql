-- The video register with each camera point's or channel group's AI activity, one row per entry
-- and day; channels is how many video channels (路数) the entry carries.
-- A catalogue is not an event stream: the partition is the day the activity figures refer to,
-- and every registered entry appears on every day present in the input.
WITH activity AS (
  SELECT biz_date, channel_code,
         count(1) AS events,
         count(DISTINCT event_type) AS event_types,
         max(event_time) AS last_event_time
  FROM silver.video_ai_events
  GROUP BY biz_date, channel_code
),
days AS (
  SELECT DISTINCT biz_date FROM silver.video_ai_events
)
SELECT
  c.code AS channel_code,
  c.name_zh AS channel_name_zh,
  c.location_kind,
  c.channel_kind,
  c.channels,
  c.provider,
  c.site_code,
  c.road,
  c.division_code,
  c.lon,
  c.lat,
  c.ai_events AS ai_event_types_configured,
  CAST(coalesce(a.events, 0) AS INT) AS events,
  CAST(coalesce(a.event_types, 0) AS INT) AS event_types_seen,
  a.last_event_time,
  d.biz_date
FROM days d
CROSS JOIN ref.video_channels c
LEFT JOIN activity a ON a.biz_date = d.biz_date AND a.channel_code = c.code
