-- Per organisation and day: plans, tasks, joint actions and the inspections made.
-- Tasks are placed by their planned date (stable while the task's status changes), inspections
-- by the day they were made, attributed to the inspecting officer's organisation (UNASSIGNED
-- when the officer is not in the register). Cancelled tasks are not counted.
WITH tasks AS (
  SELECT planned_date AS biz_date,
         org_code,
         count(DISTINCT plan_id) AS plans,
         count(1) AS tasks,
         sum(CAST(array_contains(special_task_types, task_type) AS INT)) AS special_tasks,
         sum(CAST(status = 'DONE' AS INT)) AS tasks_done,
         sum(CAST(coalesce(joint_action, false) AS INT)) AS joint_actions,
         sum(coalesce(officers, 0)) AS officers_deployed,
         sum(CASE WHEN coalesce(joint_action, false) THEN coalesce(officers, 0) ELSE 0 END)
           AS joint_officers_deployed
  FROM silver.enforcement_tasks
  WHERE status <> 'CANCELLED'
  GROUP BY planned_date, org_code
),
inspections AS (
  SELECT i.biz_date,
         coalesce(o.org_code, 'UNASSIGNED') AS org_code,
         count(1) AS inspections,
         count(DISTINCT i.plate_no) AS vehicles_checked,
         count(DISTINCT i.subject_credit_code) AS enterprises_checked,
         sum(CAST(i.result = 'CASE' AS INT)) AS cases_opened
  FROM silver.inspection_records i
  LEFT JOIN silver.officers_organisations o ON o.officer_code = i.officer_code
  GROUP BY i.biz_date, coalesce(o.org_code, 'UNASSIGNED')
)
SELECT
  coalesce(t.org_code, i.org_code) AS org_code,
  CAST(coalesce(t.plans, 0) AS INT) AS plans,
  CAST(coalesce(t.tasks, 0) AS INT) AS tasks,
  CAST(coalesce(t.special_tasks, 0) AS INT) AS special_tasks,
  CAST(coalesce(t.tasks_done, 0) AS INT) AS tasks_done,
  CAST(coalesce(t.joint_actions, 0) AS INT) AS joint_actions,
  CAST(coalesce(t.officers_deployed, 0) AS INT) AS officers_deployed,
  CAST(coalesce(t.joint_officers_deployed, 0) AS INT) AS joint_officers_deployed,
  CAST(coalesce(i.inspections, 0) AS INT) AS inspections,
  CAST(coalesce(i.vehicles_checked, 0) AS INT) AS vehicles_checked,
  CAST(coalesce(i.enterprises_checked, 0) AS INT) AS enterprises_checked,
  CAST(coalesce(i.cases_opened, 0) AS INT) AS cases_opened,
  coalesce(t.biz_date, i.biz_date) AS biz_date
FROM tasks t
FULL JOIN inspections i ON i.biz_date = t.biz_date AND i.org_code = t.org_code
