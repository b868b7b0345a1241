-- Video AI events of the highway business line (road damage, uncovered dump trucks), with the
-- place of the channel that raised them.
SELECT
  e.event_id,
  e.event_type,
  t.name_zh AS event_name_zh,
  e.channel_code,
  c.location_kind,
  c.road,
  c.division_code,
  e.plate_no,
  e.confidence,
  e.lon,
  e.lat,
  e.snapshot_key,
  e.event_time,
  e.biz_date
FROM silver.video_ai_events e
LEFT JOIN ref.ai_event_type t ON t.code = e.event_type
LEFT JOIN ref.video_channels c ON c.code = e.channel_code
WHERE t.business = 'highway'
