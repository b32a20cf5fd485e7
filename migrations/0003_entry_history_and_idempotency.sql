-- Who wrote what, and safe retries (issue #17).
--
-- 1. `timesheets.created_by`: who recorded each entry, the owner or the machine client (its `sub`) that uploaded it.
-- 2. `timesheet_events`: every change of an entry (created, updated, approved, rejected, deleted), written by
--    PostgresTimesheetRepository in the same statement or transaction as the change itself, with the caller as actor.
-- 3. `idempotency_keys`: the answer to each request sent with an `Idempotency-Key`, kept 24 hours so that every
--    replica of the API replays it; claimed, written and answered in one transaction with the entries it created.
--
-- The previous release may still be serving while this runs and until the new one has rolled out: it inserts entries
-- without `created_by` and writes no events. So `created_by` stays nullable (NULL: recorded by the previous release
-- during the rollout; the store reads it as the owner), and an entry without a `created` event gets one made from its
-- own columns when its history is read.
--
-- Adding and backfilling the column holds every reader and writer of `timesheets` until this migration commits
-- (ACCESS EXCLUSIVE). As in 0002, give up after 10 s instead of queueing every request behind a session of the
-- previous release left idle inside a transaction (the migration then fails, changes nothing, and can run again).
SET LOCAL lock_timeout = '10s';

-- Entries from before this migration were recorded by their owners (batch uploads could not be told apart). A stored
-- generated column fills every row in one rewrite of the table (indexes rebuilt in bulk, no row triggers), several
-- times faster than an UPDATE of every row; dropping the expression then leaves an ordinary column with its values.
ALTER TABLE timesheets
    ADD COLUMN created_by text GENERATED ALWAYS AS (user_id) STORED,
    ADD CONSTRAINT timesheets_created_by_length CHECK (created_by IS NULL OR char_length(created_by) BETWEEN 1 AND 255);
ALTER TABLE timesheets ALTER COLUMN created_by DROP EXPRESSION;

COMMENT ON COLUMN timesheets.created_by IS
    'Who recorded the entry: the owner, or the machine client (its sub) that uploaded it. NULL only for entries the '
    'release before 0003 recorded while this one rolled out (read as the owner).';

-- No foreign key to `timesheets`: an entry's history outlives its deletion (the last event says who deleted it).
-- Its primary key and index are built after the backfill below: one sorted build each instead of a million inserts.
CREATE TABLE timesheet_events (
    id        bigint GENERATED ALWAYS AS IDENTITY,
    entry_id  bigint NOT NULL,
    -- The entry's owner, so that a deleted entry's history can still be shown to its owner and to reviewers only.
    owner_id  text NOT NULL,
    action    text NOT NULL,
    actor     text NOT NULL,
    at        timestamptz NOT NULL,
    -- For `updated`: the editable fields before and after, as the store writes them
    -- ({"date": "2017-05-10", "project": "...", "hundredths": 500, "notes": null}).
    before    jsonb,
    after     jsonb,
    -- For `rejected`: the reviewer's reason, if any.
    reason    text,

    CONSTRAINT timesheet_events_action_values CHECK (
        action IN ('created', 'updated', 'approved', 'rejected', 'deleted')
    ),
    CONSTRAINT timesheet_events_fields_of_updates CHECK (
        (action = 'updated') = (before IS NOT NULL AND after IS NOT NULL)
    ),
    CONSTRAINT timesheet_events_reason_of_rejections CHECK (reason IS NULL OR action = 'rejected')
);

COMMENT ON TABLE timesheet_events IS
    'Every change of a timesheet entry, oldest first by id; written only by PostgresTimesheetRepository.';

-- Every existing entry starts its history with its creation, and a reviewed one with its review (both known from
-- the entry's columns); edits and deletions made before this migration were never recorded.
INSERT INTO timesheet_events (entry_id, owner_id, action, actor, at)
SELECT id, user_id, 'created', user_id, created_at FROM timesheets ORDER BY id;

INSERT INTO timesheet_events (entry_id, owner_id, action, actor, at, reason)
SELECT id, user_id, status, reviewed_by, reviewed_at, rejection_reason FROM timesheets
WHERE status <> 'pending' ORDER BY reviewed_at, id;

ALTER TABLE timesheet_events ADD CONSTRAINT timesheet_events_pkey PRIMARY KEY (id);

-- An entry's history, oldest first: one index range per `GET /timesheets/{id}/history`.
CREATE INDEX timesheet_events_entry_idx ON timesheet_events (entry_id, id);

CREATE TABLE idempotency_keys (
    -- Keys are the caller's own: the same key from two callers is two keys.
    caller_id      text NOT NULL,
    key            text NOT NULL,
    -- What the first request asked: the route, and the SHA-256 of its body. A repeat must match both.
    operation      text NOT NULL,
    request_sha256 bytea NOT NULL,
    -- The first answer, given again to every repeat. NULL only inside the transaction that claimed the key: the
    -- entries and the answer commit together, so a committed key always holds its answer.
    status         int2,
    location       text,
    body           bytea,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    PRIMARY KEY (caller_id, key),

    CONSTRAINT idempotency_keys_key_length CHECK (char_length(key) BETWEEN 1 AND 255),
    CONSTRAINT idempotency_keys_answer CHECK ((status IS NULL) = (body IS NULL))
);

COMMENT ON TABLE idempotency_keys IS
    'Answers to requests sent with an Idempotency-Key, kept until expires_at; each new claim purges expired keys.';

-- The purge that runs with each new claim finds expired keys oldest first.
CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (expires_at);
