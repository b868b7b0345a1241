-- Credit, blacklist and key-supervision entries with what each list means.
SELECT
  l.entry_id,
  l.list_type,
  t.name_zh AS list_name_zh,
  t.is_restrictive,
  l.subject_credit_code,
  l.subject_name,
  l.plate_no,
  l.valid_from,
  l.valid_until,
  l.listed_at,
  l.biz_date
FROM silver.credit_lists l
LEFT JOIN ref.list_type t ON t.code = l.list_type
