-- The database ceiling of `create`: the statement POST /timesheets runs (InsertEntryStatement: the entry and its
-- `created` event in one statement, migration 0003, with the day-total trigger of migration 0002), one durable
-- commit each, on a user-day spread so the 24-hour rule never refuses one.
-- User and day are computed by pgbench (`-D users=N`), so the prepared statement's parameters are plain values.
\set g random(0, 999999999)
\set u :g % :users
\set d 30000 + :g / :users
WITH entry AS (
    INSERT INTO timesheets (user_id, work_date, project, hours, notes, created_by, created_at, updated_at)
    VALUES ('bench-user-' || :u, DATE '1970-01-01' + :d::int4, 'Bench', 100::int4::numeric / 100,
            NULL, 'bench-user-' || :u, now(), now())
    RETURNING id, user_id
)
INSERT INTO timesheet_events (entry_id, owner_id, action, actor, at)
SELECT id, user_id, 'created', user_id, now() FROM entry
RETURNING entry_id;
