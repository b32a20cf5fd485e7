-- The database ceiling of `approvals`: the review queue's first page (PendingPageStatement), prepared.
SELECT id, user_id, work_date - DATE '1970-01-01', project, (hours * 100)::int4, notes, status,
       created_at, updated_at, reviewed_by, reviewed_at, rejection_reason
FROM timesheets WHERE status = 'pending' AND id > 0 ORDER BY id LIMIT 20;
