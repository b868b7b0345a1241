-- Penalty decisions as they may be disclosed to the public (行政处罚信息公示).
-- Enterprises are named with their credit code; a natural person is shown by surname only and
-- no ID number, phone or plate leaves this dataset (Standard 2: L3/L4 never public).
-- The case system may deliver one case number under two case ids: the decision takes the
-- case row updated last (then the highest case id), so it gets one row, and always the same one.
WITH cases AS (
  SELECT case_no, division_code, status
  FROM (
    SELECT c.*,
           row_number() OVER (PARTITION BY c.case_no ORDER BY c.updated_at DESC, c.case_id DESC) AS n
    FROM silver.enforcement_cases c
  )
  WHERE n = 1
)
SELECT
  d.decision_no,
  d.case_no,
  CASE WHEN d.party_credit_code IS NOT NULL THEN 'enterprise' ELSE 'person' END AS party_kind,
  CASE WHEN d.party_credit_code IS NOT NULL THEN d.party_name
       ELSE concat(substring(d.party_name, 1, 1), '**') END AS party_name_disclosed,
  CASE WHEN d.party_credit_code IS NOT NULL THEN d.party_credit_code END AS party_credit_code,
  d.violation_code,
  v.name_zh AS violation_name_zh,
  d.fine_yuan,
  c.division_code,
  c.status AS case_status,
  d.decided_on
FROM silver.penalty_decisions d
LEFT JOIN cases c ON c.case_no = d.case_no
LEFT JOIN ref.violation_codes v ON v.code = d.violation_code
WHERE d.decided_on IS NOT NULL
