-- The report's figures per month, one row per month and KPI: long, so a KPI is added as a row
-- of kpis and a column of figures, not as a new table column. A KPI is present for a month when
-- its source has rows in it. Yearly figures are sums of the additive KPIs over a year's months;
-- distinct-vehicle counts are per month.
WITH kpis (kpi_id, kpi_name_zh, unit) AS (
  VALUES
    ('enforcement_plans', '执法计划数', 'plans'),
    ('inspection_tasks', '检查任务数', 'tasks'),
    ('special_tasks', '专项任务数', 'tasks'),
    ('joint_actions', '联合执法行动数', 'actions'),
    ('joint_officer_deployments', '联合执法出动人次', 'officer-deployments'),
    ('joint_vehicle_deployments', '联合执法出动车辆次', 'vehicle-deployments'),
    ('joint_vehicles_checked', '联合执法检查车辆数', 'vehicles'),
    ('joint_offending_vehicles', '联合执法查处违法车辆数', 'vehicles'),
    ('vehicles_inspected', '检查车辆数', 'vehicles'),
    ('enterprises_inspected', '检查企业数', 'enterprises'),
    ('transfers_out', '抄告案件数', 'transfers'),
    ('transfers_out_of_province', '抄告外省案件数', 'transfers'),
    ('transfers_on_time_ratio', '结案后7个工作日内抄告率', 'ratio'),
    ('shuang_bai_vehicles', '双百车辆数', 'vehicles'),
    ('xuzhou_shuang_bai_vehicles', '徐州籍双百车辆数', 'vehicles'),
    ('illegal_operation_cases', '非法营运案件数', 'cases'),
    ('source_enterprise_cases', '源头企业案件数', 'cases'),
    ('xuzhou_bai_dun_wang_cases', '查处徐州籍百吨王车辆案件数', 'cases'),
    ('taxi_complaints', '巡游出租车投诉数', 'tickets'),
    ('taxi_trips', '巡游出租车运次', 'trips'),
    ('taxi_complaints_per_10k_trips', '巡游出租车万运次投诉率', 'per 10,000 trips'),
    ('ride_hailing_complaints', '网约车投诉数', 'tickets'),
    ('ride_hailing_trips', '网约车订单数', 'trips'),
    ('ride_hailing_complaints_per_10k_trips', '网约车万单投诉率', 'per 10,000 trips'),
    ('garbage_ship_visits', '船舶垃圾接收艘次', 'ship-visits'),
    ('garbage_t', '船舶垃圾接收量', 't'),
    ('sewage_ship_visits', '生活污水接收艘次', 'ship-visits'),
    ('sewage_t', '生活污水接收量', 't'),
    ('oily_water_ship_visits', '含油污水接收艘次', 'ship-visits'),
    ('oily_water_t', '含油污水接收量', 't'),
    ('pollutant_disposal_ratio', '污染物转运处置率', 'ratio'),
    ('garbage_delivery_ratio', '船舶生活垃圾送交比例', 'ratio'),
    ('sewage_delivery_ratio', '生活污水送交比例', 'ratio'),
    ('oily_water_delivery_ratio', '含油污水送交比例', 'ratio')
),
tasks AS (
  SELECT trunc(planned_date, 'month') AS month,
         count(DISTINCT plan_id) AS enforcement_plans,
         count(1) AS inspection_tasks,
         sum(CASE WHEN array_contains(special_task_types, task_type) THEN 1 ELSE 0 END)
           AS special_tasks,
         sum(CASE WHEN coalesce(joint_action, false) THEN 1 ELSE 0 END) AS joint_actions,
         sum(CASE WHEN coalesce(joint_action, false) THEN coalesce(officers, 0) ELSE 0 END)
           AS joint_officer_deployments,
         sum(CASE WHEN coalesce(joint_action, false) THEN coalesce(vehicles_deployed, 0) ELSE 0 END)
           AS joint_vehicle_deployments,
         sum(CASE WHEN coalesce(joint_action, false) THEN coalesce(vehicles_checked, 0) ELSE 0 END)
           AS joint_vehicles_checked,
         sum(
           CASE WHEN coalesce(joint_action, false) THEN coalesce(offending_vehicles, 0) ELSE 0 END
         ) AS joint_offending_vehicles
  FROM silver.enforcement_tasks
  WHERE status <> 'CANCELLED'
  GROUP BY trunc(planned_date, 'month')
),
inspections AS (
  SELECT trunc(biz_date, 'month') AS month,
         count(DISTINCT plate_no) AS vehicles_inspected,
         count(DISTINCT subject_credit_code) AS enterprises_inspected
  FROM silver.inspection_records
  GROUP BY trunc(biz_date, 'month')
),
transfers AS (
  SELECT trunc(biz_date, 'month') AS month,
         count(1) AS transfers_out,
         sum(CASE WHEN is_out_of_province(to_area) THEN 1 ELSE 0 END) AS transfers_out_of_province,
         -- Order 2016-62 Art. 44: sent within 7 working days of the case's closure
         safe_ratio(
           count_if(coalesce(is_transfer_on_time(case_closed_at, transferred_at), false)), count(1)
         ) AS transfers_on_time_ratio
  FROM silver.violation_transfers
  WHERE direction = 'OUT'
  GROUP BY trunc(biz_date, 'month')
),
shuang_bai AS (
  -- the weighings of shuang_bai_vehicles.sql, counted by distinct plate
  SELECT trunc(biz_date, 'month') AS month,
         count(DISTINCT plate_no) AS shuang_bai_vehicles,
         count(DISTINCT CASE WHEN is_xuzhou_plate(plate_no) THEN plate_no END)
           AS xuzhou_shuang_bai_vehicles
  FROM (
    SELECT plate_no, gross_weight_kg, biz_date,
           legal_limit_kg(axle_count, is_road_train(vehicle_type_code, plate_no, trailer_plate_no)) AS limit_kg
    FROM silver.wim_weighings
    UNION ALL
    SELECT plate_no, gross_weight_kg, biz_date, CAST(limit_kg AS INT)
    FROM silver.static_reweighs
  )
  WHERE is_recognised_plate(plate_no) AND is_shuang_bai(gross_weight_kg, limit_kg)
  GROUP BY trunc(biz_date, 'month')
),
cases AS (
  SELECT trunc(to_date(filed_at), 'month') AS month,
         sum(CASE WHEN array_contains(illegal_operation_codes, violation_code) THEN 1 ELSE 0 END)
           AS illegal_operation_cases,
         sum(CASE WHEN array_contains(source_enterprise_codes, violation_code) THEN 1 ELSE 0 END)
           AS source_enterprise_cases
  FROM silver.enforcement_cases
  GROUP BY trunc(to_date(filed_at), 'month')
),
bai_dun_wang AS (
  -- 百吨王 prosecuted: non-site overload cases of Xuzhou trucks whose weighing the day before
  -- the filing (a non-site case is filed on the day after the truck crossed a WIM site) was
  -- 100 t or more
  SELECT trunc(to_date(c.filed_at), 'month') AS month,
         count(DISTINCT c.case_id) AS xuzhou_bai_dun_wang_cases
  FROM silver.enforcement_cases c
  JOIN silver.wim_weighings w
    ON w.plate_no = c.plate_no AND w.biz_date = date_sub(to_date(c.filed_at), 1)
  WHERE array_contains(overload_case_codes, c.violation_code)
    AND is_xuzhou_plate(c.plate_no) AND is_bai_dun_wang(w.gross_weight_kg)
  GROUP BY trunc(to_date(c.filed_at), 'month')
),
trips AS (
  -- a trip's industry is its service kind's, as a ticket's is its category's: the taxis' meter
  -- trips and the ride-hailing orders
  SELECT trunc(t.biz_date, 'month') AS month,
         sum(CASE WHEN k.industry = 'taxi' THEN 1 ELSE 0 END) AS taxi_trips,
         sum(CASE WHEN k.industry = 'ride_hailing' THEN 1 ELSE 0 END) AS ride_hailing_trips
  FROM silver.passenger_trips t
  LEFT JOIN ref.passenger_service_kind k ON k.code = t.service_kind
  GROUP BY trunc(t.biz_date, 'month')
),
complaints AS (
  SELECT trunc(to_date(t.received_at), 'month') AS month,
         sum(CASE WHEN c.industry = 'taxi' THEN 1 ELSE 0 END) AS taxi_complaints,
         sum(CASE WHEN c.industry = 'ride_hailing' THEN 1 ELSE 0 END) AS ride_hailing_complaints
  FROM silver.complaint_tickets t
  LEFT JOIN ref.complaint_category c ON c.code = t.category
  GROUP BY trunc(to_date(t.received_at), 'month')
),
pollutants AS (
  -- receipts are written in their pollutant type's unit (m3 for liquids); the _t KPIs and the
  -- disposal ratio count tonnes, each receipt converted by ref.pollutant_type.t_per_unit. A
  -- delivery ratio (送交比例) is one type's received ÷ expected quantity (what the ships should
  -- have handed over, from their declarations), in the type's unit: it may exceed 1
  -- (uncapped_ratio_kpis), and is absent for a month with nothing expected
  SELECT trunc(to_date(p.received_at), 'month') AS month,
         sum(CASE WHEN p.pollutant_type = 'GARBAGE' THEN 1 ELSE 0 END) AS garbage_ship_visits,
         sum(CASE WHEN p.pollutant_type = 'GARBAGE' THEN p.quantity * u.t_per_unit ELSE 0.0D END)
           AS garbage_t,
         sum(CASE WHEN p.pollutant_type = 'SEWAGE' THEN 1 ELSE 0 END) AS sewage_ship_visits,
         sum(CASE WHEN p.pollutant_type = 'SEWAGE' THEN p.quantity * u.t_per_unit ELSE 0.0D END)
           AS sewage_t,
         sum(CASE WHEN p.pollutant_type = 'OILY_WATER' THEN 1 ELSE 0 END)
           AS oily_water_ship_visits,
         sum(
           CASE WHEN p.pollutant_type = 'OILY_WATER' THEN p.quantity * u.t_per_unit ELSE 0.0D END
         ) AS oily_water_t,
         safe_ratio(
           sum(CASE WHEN p.handed_to_disposal THEN p.quantity * u.t_per_unit ELSE 0.0D END),
           sum(p.quantity * u.t_per_unit)
         ) AS pollutant_disposal_ratio,
         safe_ratio(
           sum(CASE WHEN p.pollutant_type = 'GARBAGE' THEN p.quantity ELSE 0.0D END),
           sum(CASE WHEN p.pollutant_type = 'GARBAGE' THEN p.expected_quantity ELSE 0.0D END)
         ) AS garbage_delivery_ratio,
         safe_ratio(
           sum(CASE WHEN p.pollutant_type = 'SEWAGE' THEN p.quantity ELSE 0.0D END),
           sum(CASE WHEN p.pollutant_type = 'SEWAGE' THEN p.expected_quantity ELSE 0.0D END)
         ) AS sewage_delivery_ratio,
         safe_ratio(
           sum(CASE WHEN p.pollutant_type = 'OILY_WATER' THEN p.quantity ELSE 0.0D END),
           sum(CASE WHEN p.pollutant_type = 'OILY_WATER' THEN p.expected_quantity ELSE 0.0D END)
         ) AS oily_water_delivery_ratio
  FROM silver.pollutant_receipts p
  LEFT JOIN ref.pollutant_type u ON u.code = p.pollutant_type
  GROUP BY trunc(to_date(p.received_at), 'month')
),
months AS (
  SELECT month FROM tasks UNION SELECT month FROM inspections UNION SELECT month FROM transfers
  UNION SELECT month FROM shuang_bai UNION SELECT month FROM cases UNION SELECT month FROM trips
  UNION SELECT month FROM bai_dun_wang
  UNION SELECT month FROM complaints UNION SELECT month FROM pollutants
),
wide AS (
  SELECT m.month,
         t.enforcement_plans, t.inspection_tasks, t.special_tasks, t.joint_actions,
         t.joint_officer_deployments, t.joint_vehicle_deployments, t.joint_vehicles_checked,
         t.joint_offending_vehicles,
         i.vehicles_inspected, i.enterprises_inspected,
         x.transfers_out, x.transfers_out_of_province, x.transfers_on_time_ratio,
         s.shuang_bai_vehicles, s.xuzhou_shuang_bai_vehicles,
         c.illegal_operation_cases, c.source_enterprise_cases,
         coalesce(b.xuzhou_bai_dun_wang_cases, CASE WHEN c.month IS NOT NULL THEN 0 END)
           AS xuzhou_bai_dun_wang_cases,
         q.taxi_complaints, q.ride_hailing_complaints,
         r.taxi_trips,
         safe_ratio(q.taxi_complaints * 10000.0D, r.taxi_trips) AS taxi_complaints_per_10k_trips,
         r.ride_hailing_trips,
         safe_ratio(q.ride_hailing_complaints * 10000.0D, r.ride_hailing_trips)
           AS ride_hailing_complaints_per_10k_trips,
         p.garbage_ship_visits, p.garbage_t, p.sewage_ship_visits, p.sewage_t,
         p.oily_water_ship_visits, p.oily_water_t, p.pollutant_disposal_ratio,
         p.garbage_delivery_ratio, p.sewage_delivery_ratio, p.oily_water_delivery_ratio
  FROM months m
  LEFT JOIN tasks t ON t.month = m.month
  LEFT JOIN inspections i ON i.month = m.month
  LEFT JOIN transfers x ON x.month = m.month
  LEFT JOIN shuang_bai s ON s.month = m.month
  LEFT JOIN cases c ON c.month = m.month
  LEFT JOIN bai_dun_wang b ON b.month = m.month
  LEFT JOIN trips r ON r.month = m.month
  LEFT JOIN complaints q ON q.month = m.month
  LEFT JOIN pollutants p ON p.month = m.month
  WHERE m.month IS NOT NULL
),
long AS (
  SELECT month, kpi_id, round(CAST(value AS DOUBLE), 4) AS value
  FROM wide
  UNPIVOT (value FOR kpi_id IN (
    enforcement_plans, inspection_tasks, special_tasks, joint_actions,
    joint_officer_deployments, joint_vehicle_deployments, joint_vehicles_checked,
    joint_offending_vehicles, vehicles_inspected, enterprises_inspected, transfers_out,
    transfers_out_of_province, transfers_on_time_ratio, shuang_bai_vehicles,
    xuzhou_shuang_bai_vehicles,
    illegal_operation_cases, source_enterprise_cases, xuzhou_bai_dun_wang_cases, taxi_complaints, ride_hailing_complaints,
    taxi_trips, taxi_complaints_per_10k_trips,
    ride_hailing_trips, ride_hailing_complaints_per_10k_trips, garbage_ship_visits, garbage_t,
    sewage_ship_visits, sewage_t, oily_water_ship_visits, oily_water_t, pollutant_disposal_ratio,
    garbage_delivery_ratio, sewage_delivery_ratio, oily_water_delivery_ratio
  ))
)
SELECT k.kpi_id, k.kpi_name_zh, k.unit, l.value, l.month
FROM long l
JOIN kpis k ON k.kpi_id = l.kpi_id
