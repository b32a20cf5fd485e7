-- The database ceiling of `approvals`: the review queue's first page (PendingPageStatement), prepared.
-- The route sends each row as one value, ROW(<these columns>), read in binary. pgbench reads results as text,
-- where printing a record costs PostgreSQL more than printing its columns, so the ceiling keeps the columns:
-- the higher of the two ceilings, never one that flatters the route.
-- The route's statement (PendingPageStatement) reads the page from a subquery with a constant LIMIT and binds the page
-- size, so that PostgreSQL keeps one generic plan; here the page size is a constant and needs no such help.
SELECT id, user_id, work_date - DATE '1970-01-01', project, (hours * 100)::int4, notes, status,
       created_at, updated_at, reviewed_by, reviewed_at, rejection_reason, coalesce(created_by, user_id)
FROM timesheets WHERE status = 'pending' AND id > 0 ORDER BY id LIMIT 20;
