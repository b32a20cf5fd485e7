import Testing
import TimesheetDomain

/// The domain's own rules for raw values, named by whatever names the fields arrived with. (What HTTP clients are
/// told, under the wire names, is tested with the API's body reader in `EntryBodyTests`.)
@Suite struct InputValidationTests {
    func errors(_ result: Result<some Any, TimesheetError>) -> [FieldError] {
        guard case .failure(.validationFailed(let errors)) = result else { return [] }
        return errors
    }

    @Test func problemsAreNamedAsTheFieldsArrived() {
        let byProperty = errors(TimesheetRules.validateNew(TimesheetInput(), owner: nil))
        #expect(byProperty.map(\.field) == ["userID", "date", "project", "hours"])
        let named = TimesheetInput(
            userID: InputField("who", .string("someone-else")),
            date: InputField("day", .string("2017-05-10")),
            project: InputField("p", .string("P")),
            hours: InputField("h", .number("1")),
            notes: InputField("n", nil)
        )
        let owner = errors(TimesheetRules.validateNew(named, owner: "u"))
        #expect(owner.map(\.field) == ["who"])
        #expect(owner.first?.message == "Entries belong to the caller; omit who or send your own id.")
        let nothing = TimesheetInput(
            userID: InputField("who", nil),
            date: InputField("day", nil),
            project: InputField("p", nil),
            hours: InputField("h", nil),
            notes: InputField("n", nil)
        )
        #expect(
            errors(TimesheetRules.validateChanges(nothing, owner: "u", replacing: false)).first?.message
                == "Send at least one of day, p, h or n to change."
        )
    }

    @Test func readingErrorsAreReportedFirst() {
        var input = TimesheetInput(date: .string("nope"), project: .string("P"), hours: .number("1"))
        input.readingErrors = [FieldError(field: "colour", code: .unknownField, message: "m")]
        #expect(errors(TimesheetRules.validateNew(input, owner: "u")).map(\.field) == ["colour", "date"])
    }

    @Test func rejectionReason() throws {
        #expect(try TimesheetRules.validateRejectionReason(InputField("reason", nil)).get() == nil)
        #expect(
            try TimesheetRules.validateRejectionReason(InputField("reason", .string("Wrong project"))).get()
                == "Wrong project"
        )
        let long = InputField("reason", .string(String(repeating: "r", count: 1_001)))
        #expect(errors(TimesheetRules.validateRejectionReason(long)).map(\.code) == [.tooLong])
        #expect(errors(TimesheetRules.validateRejectionReason(InputField("why", .number("1")))).map(\.field) == ["why"])
    }

    @Test func batchItemErrorsNameTheirIndex() {
        let error = FieldError(field: "hours", code: .required, message: "m")
        #expect(error.inItem(3).field == "[3].hours")
        #expect(FieldError(field: "", code: .required, message: "m").inItem(0).field == "[0]")
    }
}
