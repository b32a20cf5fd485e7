-- Drops 0001's index of user-day hours. Since migration 0002 the 24-hour rule reads `timesheet_day_totals`, and
-- only the weekly summary (GET /timesheets/summary) still read this index; every create, edit and review kept it up
-- to date. The summary now reads the user's entries through the list index (`timesheets_user_list_idx`, a range of
-- days of one user) and their rows: over the benchmark's 1,000,000 entries a year's summary of 100 entries took
-- 0.4-0.9 ms instead of 0.15 ms, while PostgreSQL spent 105-123 µs per created entry instead of 125-154 µs
-- (pgbench with the create route's statement, six alternated pairs): benchmarks/results/README.md, "Issue #16, sixth
-- session".
--
-- Like 0004, inside the migration's transaction: DROP INDEX holds `timesheets` for a moment, and gives up after 10 s
-- rather than queue every write behind an idle transaction of the old release (whose queries need no such index).
SET LOCAL lock_timeout = '10s';

DROP INDEX IF EXISTS timesheets_daily_totals_idx;
