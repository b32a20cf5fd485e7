-- Timesheet entries: the system of record. The CHECKs repeat the domain's rules (TimesheetRules, Hours,
-- TimesheetStatus) so that no code path, script or manual fix can store what the API would refuse.
CREATE TABLE timesheets (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id          text NOT NULL,
    work_date        date NOT NULL,
    project          text NOT NULL,
    -- Exact hundredths of an hour; the store converts to and from Hours.hundredths with integer arithmetic.
    hours            numeric(4, 2) NOT NULL,
    notes            text,
    status           text NOT NULL DEFAULT 'pending',
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    reviewed_by      text,
    reviewed_at      timestamptz,
    rejection_reason text,

    CONSTRAINT timesheets_user_id_length CHECK (char_length(user_id) BETWEEN 1 AND 255),
    CONSTRAINT timesheets_project_length CHECK (char_length(project) BETWEEN 1 AND 200),
    CONSTRAINT timesheets_hours_range CHECK (hours > 0 AND hours <= 24),
    CONSTRAINT timesheets_notes_length CHECK (notes IS NULL OR char_length(notes) <= 2000),
    CONSTRAINT timesheets_status_values CHECK (status IN ('pending', 'approved', 'rejected')),
    CONSTRAINT timesheets_review_fields CHECK (
        (status = 'pending') = (reviewed_by IS NULL AND reviewed_at IS NULL)
    ),
    CONSTRAINT timesheets_rejection_reason CHECK (
        rejection_reason IS NULL OR (status = 'rejected' AND char_length(rejection_reason) <= 1000)
    )
);

COMMENT ON TABLE timesheets IS 'Timesheet entries; written only through PostgresTimesheetRepository.';
COMMENT ON COLUMN timesheets.hours IS 'Hours worked, exact to the hundredth, 0 < hours <= 24.';

-- A user's own list, newest day first then newest id: keyset pagination on (work_date, id) for one user,
-- and the range filter on work_date.
CREATE INDEX timesheets_user_list_idx ON timesheets (user_id, work_date DESC, id DESC);

-- The review queue: pending entries oldest first (keyset on id). Small, because reviewed entries leave it.
CREATE INDEX timesheets_pending_queue_idx ON timesheets (id) WHERE status = 'pending';

-- Daily totals and the 24-hour check: the hours of one user's days, without rejected entries, from the index alone.
CREATE INDEX timesheets_daily_totals_idx ON timesheets (user_id, work_date, project) INCLUDE (hours)
    WHERE status <> 'rejected';
