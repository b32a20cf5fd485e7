// TimesheetDomainTesting
