-- Hours reports (GET /reports/hours, issue #17) aggregate every user's entries over a range of days.
--
-- By user and project (the default grouping), in the byte order reports sort text in (COLLATE "C"): a report reads
-- this index in order and sums each group as it passes, from the index alone (hours and status are included), with
-- no hash table and no sort. Over the benchmark's 1,000,000 entries this took a report of every user's 100 days
-- from a parallel sort of 900,000 rows to one ordered index scan (benchmarks/results/README.md, "Issue #17 reports").
--
-- By day: a short range (a week, a month) reads only its own days, from the index alone, instead of the whole table.
--
-- Plain CREATE INDEX inside the migration's transaction: all or nothing, and it holds writes to `timesheets` while
-- it builds (about 3 s for both indexes over 1,000,000 entries on the 2-core development machine; README, Deploy).
-- Like 0002, it gives up after 10 s rather than queue every write behind an idle transaction of the old release.
SET LOCAL lock_timeout = '10s';

CREATE INDEX timesheets_report_user_project_idx
    ON timesheets (user_id COLLATE "C", project COLLATE "C", work_date) INCLUDE (hours, status);

CREATE INDEX timesheets_report_day_idx ON timesheets (work_date) INCLUDE (user_id, project, hours, status);
