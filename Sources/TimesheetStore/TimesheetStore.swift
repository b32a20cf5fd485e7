// TimesheetStore
