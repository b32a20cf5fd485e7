-- The 24-hour rule, held by the database itself: one row per user-day with the hours that count (entries not
-- rejected), kept current by a trigger on every insert, update and delete of `timesheets`, and a CHECK that refuses
-- a day above 24 hours. This constraint is the authority for the rule in PostgreSQL; the domain's `DailyLimit`
-- (Hours.dailyLimit, 24) phrases the refusal and holds the rule for the in-memory repository, and a store test
-- checks that both say 24.
--
-- Why: the check used to take an advisory lock per user-day, sum the day, then insert, in an explicit transaction
-- (four round trips per entry). Now an entry is one INSERT: the trigger's upsert locks the day's row, so concurrent
-- writers to one day queue there, and the CHECK refuses the one that would pass 24 hours.
-- Writers wait until this migration commits: an entry committed between the backfill below and the trigger's
-- creation would never be counted (the previous release may still be serving while migrations run).
-- A session of the old release left idle inside a transaction would make the lock wait for ever while every new write
-- queued behind it; give up after a while instead (the migration fails, changes nothing, and can run again).
SET LOCAL lock_timeout = '10s';
LOCK TABLE timesheets IN SHARE ROW EXCLUSIVE MODE;

-- A day already above 24 hours (written around the old checks by hand) would make the backfill fail on the CHECK
-- with no word of which day; name them instead.
DO $$
DECLARE
    over text;
BEGIN
    SELECT string_agg(format('%s on %s (%s h)', user_id, work_date, total), ', ')
    INTO over
    FROM (SELECT user_id, work_date, sum(hours) AS total FROM timesheets WHERE status <> 'rejected'
          GROUP BY user_id, work_date HAVING sum(hours) > 24 ORDER BY user_id, work_date LIMIT 10) AS days;
    IF over IS NOT NULL THEN
        RAISE EXCEPTION 'user-days above 24 hours: %', over
            USING HINT = 'Reject or shorten those entries, then run the migration again.';
    END IF;
END
$$;

CREATE TABLE timesheet_day_totals (
    user_id   text NOT NULL,
    work_date date NOT NULL,
    hours     numeric(6, 2) NOT NULL,
    PRIMARY KEY (user_id, work_date),
    -- The rule itself; the store turns this constraint's refusal into the domain's conflict.
    CONSTRAINT timesheet_day_totals_daily_limit CHECK (hours <= 24),
    -- A total below zero would mean the totals drifted from the entries: a bug, never a client's mistake.
    CONSTRAINT timesheet_day_totals_non_negative CHECK (hours >= 0)
);

COMMENT ON TABLE timesheet_day_totals IS
    'Hours per user-day of entries that are not rejected; maintained by the timesheets_day_totals trigger only.';

INSERT INTO timesheet_day_totals (user_id, work_date, hours)
SELECT user_id, work_date, sum(hours) FROM timesheets WHERE status <> 'rejected' GROUP BY user_id, work_date;

CREATE FUNCTION timesheets_track_day_totals() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_counts boolean := TG_OP <> 'INSERT' AND OLD.status <> 'rejected';
    new_counts boolean := TG_OP <> 'DELETE' AND NEW.status <> 'rejected';
BEGIN
    -- An edit that stays on its day (an approval, a new project, new hours) is one change by the difference.
    IF old_counts AND new_counts AND OLD.user_id = NEW.user_id AND OLD.work_date = NEW.work_date THEN
        IF NEW.hours <> OLD.hours THEN
            UPDATE timesheet_day_totals SET hours = hours + (NEW.hours - OLD.hours)
            WHERE user_id = NEW.user_id AND work_date = NEW.work_date;
        END IF;
        RETURN NULL;
    END IF;
    -- Otherwise take the old hours off their day first (never refused), then add the new ones (perhaps refused).
    IF old_counts THEN
        UPDATE timesheet_day_totals SET hours = hours - OLD.hours
        WHERE user_id = OLD.user_id AND work_date = OLD.work_date;
    END IF;
    IF new_counts THEN
        INSERT INTO timesheet_day_totals AS t (user_id, work_date, hours) VALUES (NEW.user_id, NEW.work_date, NEW.hours)
        ON CONFLICT (user_id, work_date) DO UPDATE SET hours = t.hours + EXCLUDED.hours;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER timesheets_day_totals
    AFTER INSERT OR UPDATE OR DELETE ON timesheets
    FOR EACH ROW EXECUTE FUNCTION timesheets_track_day_totals();

-- Row triggers do not see TRUNCATE: emptying the entries empties the totals.
CREATE FUNCTION timesheets_truncate_day_totals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE timesheet_day_totals;
    RETURN NULL;
END
$$;

CREATE TRIGGER timesheets_day_totals_truncate
    AFTER TRUNCATE ON timesheets
    FOR EACH STATEMENT EXECUTE FUNCTION timesheets_truncate_day_totals();
