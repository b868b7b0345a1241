-- Video AI events that call for a joint warning with a neighbouring city. The event types
-- (event_types) and the cities of the cooperation mechanism (partner_cities: 济宁, 枣庄, 宿州,
-- 宿迁) are the declaration's params; which partners an event goes to are those the channel's
-- division borders (ref.division_neighbours), in the order of partner_cities.
WITH notify AS (
  SELECT
    n.division_code,
    concat_ws(',', transform(
      array_sort(collect_list(named_struct('pos', array_position(partner_cities, n.city_zh),
                                           'city', n.city_zh))),
      x -> x.city)) AS notify_cities
  FROM ref.division_neighbours n
  WHERE array_contains(partner_cities, n.city_zh)
  GROUP BY n.division_code
)
SELECT
  e.event_id AS warning_id,
  e.event_type,
  t.name_zh AS event_name_zh,
  e.channel_code,
  c.road,
  c.division_code,
  w.notify_cities,
  e.confidence,
  e.lon,
  e.lat,
  e.event_time,
  e.biz_date
FROM silver.video_ai_events e
LEFT JOIN ref.ai_event_type t ON t.code = e.event_type
JOIN ref.video_channels c ON c.code = e.channel_code
JOIN notify w ON w.division_code = c.division_code
WHERE array_contains(event_types, e.event_type)
