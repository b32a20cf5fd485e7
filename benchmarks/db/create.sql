-- The database ceiling of `create`: the statement POST /timesheets runs (InsertEntryStatement: the entry and its
-- `created` event in one statement, migration 0003, with the day-total trigger of migration 0002), one durable
-- commit each, on a user-day spread so the 24-hour rule never refuses one.
\set g random(0, 999999999)
WITH entry AS (
    INSERT INTO timesheets (user_id, work_date, project, hours, notes, created_by, created_at, updated_at)
    VALUES ('bench-user-' || (:g % 10000), DATE '1970-01-01' + 30000 + :g / 10000, 'Bench', 100::int4::numeric / 100,
            NULL, 'bench-user-' || (:g % 10000), now(), now())
    RETURNING id, user_id
)
INSERT INTO timesheet_events (entry_id, owner_id, action, actor, at)
SELECT id, user_id, 'created', user_id, now() FROM entry
RETURNING entry_id;
