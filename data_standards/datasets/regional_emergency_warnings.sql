-- Video AI events that call for a joint warning with a neighbouring city. The event types
-- (event_types) and, per border division, the cities to notify (neighbours) are the
-- declaration's params (济宁, 枣庄, 宿州, 宿迁 in the 2024 cooperation agreement).
SELECT
  e.event_id AS warning_id,
  e.event_type,
  t.name_zh AS event_name_zh,
  e.channel_code,
  c.road,
  c.division_code,
  neighbours[c.division_code] AS notify_cities,
  e.confidence,
  e.lon,
  e.lat,
  e.event_time,
  e.biz_date
FROM silver.video_ai_events e
LEFT JOIN ref.ai_event_type t ON t.code = e.event_type
LEFT JOIN ref.video_channels c ON c.code = e.channel_code
WHERE array_contains(event_types, e.event_type)
  AND neighbours[c.division_code] IS NOT NULL
