import Foundation
import HTTPTypes
import NIOCore
import Testing
import TimesheetDomain

@testable import TimesheetAPI

/// Entry bodies as clients send them, read under the wire names and validated by the domain: what a client is told.
@Suite struct EntryBodyTests {
    /// Forms split on bytes, as query strings do: a combining mark after `&` or `=` does not hide the separator.
    @Test func formFieldsSplitOnBytes() throws {
        let fields = try RequestBodyReader.formFields(ByteBuffer(string: "a=1&\u{301}b=2&c=x%3D%26y+z"))
        #expect(fields.map(\.name) == ["a", "\u{301}b", "c"])
        #expect(fields.map(\.value) == ["1", "2", "x=&y z"])
        #expect(throws: Problem.self) { try RequestBodyReader.formFields(ByteBuffer(string: "a=1&a\u{301}=2&a=3")) }
    }

    /// The media type is read without regard to ASCII case or the spaces and tabs around it, parameters ignored; a
    /// near miss is refused with 415, never guessed at.
    @Test func mediaTypesAreReadOverTheirBytes() throws {
        let json = [
            "application/json", "Application/JSON", " \tapplication/json ; charset=utf-8", "APPLICATION/JSON;x=y",
        ]
        for type in json { #expect(try RequestBodyReader.format(ofContentType: type) == .json, "'\(type)'") }
        let forms = ["application/x-www-form-urlencoded", "Application/X-WWW-Form-URLEncoded; charset=utf-8"]
        for type in forms { #expect(try RequestBodyReader.format(ofContentType: type) == .form, "'\(type)'") }
        let refused: [String?] = [
            nil, "", ";", " ; charset=utf-8", "application/jsonx", "application/json-patch+json", "text/plain",
            "application/\u{00A0}json", "\u{00A0}application/json", "applicatıon/json", "application /json",
        ]
        for type in refused {
            let error = #expect(throws: Problem.self, "'\(type ?? "nil")'") {
                try RequestBodyReader.format(ofContentType: type)
            }
            #expect(error?.status == .unsupportedMediaType)
        }
    }

    /// Each JSON value reaches validation as the kind it was sent as; a number keeps the digits it was sent with.
    @Test func jsonValuesKeepTheirKind() throws {
        let input = try decode(#"{"user_id":[1],"date":true,"project":null,"hours":7.50,"notes":"7.5"}"#)
        #expect(input.userID.value == .unsupported)
        #expect(input.date.value == .bool(true))
        #expect(input.project.value == .null)
        #expect(input.hours.value == .number("7.5"))
        #expect(input.notes.value == .string("7.5"))
        #expect(try decode(#"{"hours":false}"#).hours.value == .bool(false))
        #expect(try decode(#"{"hours":1e400}"#).hours.value == .unsupported)
    }

    func decode(_ json: String) throws -> TimesheetInput {
        try JSONDecoder().decode(EntryBody.self, from: Data(json.utf8)).input
    }

    func errors(_ result: Result<some Any, TimesheetError>) -> [FieldError] {
        guard case .failure(.validationFailed(let errors)) = result else { return [] }
        return errors
    }

    @Test func acceptsTheSeedClientPayload() throws {
        let input = try decode(#"{"date":"2017-05-10","project":"StoreZero","hours":5}"#)
        let entry = try TimesheetRules.validateNew(input, owner: "user@example.com").get()
        #expect(
            entry
                == NewTimesheet(
                    userID: "user@example.com",
                    date: CalendarDay(year: 2017, month: 5, day: 10)!,
                    project: "StoreZero",
                    hours: Hours(hundredths: 500)
                )
        )
    }

    @Test func acceptsTheBatchClientPayload() throws {
        let input = try decode(#"{"user_id":"007","date":"2017-05-10T17:40:20.095Z","project":"StoreZero","hours":5}"#)
        let entry = try TimesheetRules.validateNew(input, owner: nil).get()
        #expect(entry.userID == "007")
        #expect(entry.date.description == "2017-05-10")
        #expect(entry.hours == Hours(hundredths: 500))
    }

    @Test func hoursMayBeANumericString() throws {
        let input = try decode(#"{"date":"2017-05-10","project":"P","hours":"7.5"}"#)
        #expect(try TimesheetRules.validateNew(input, owner: "u").get().hours == Hours(hundredths: 750))
    }

    @Test func decimalNumbersKeepTheirPrecision() throws {
        let tooPrecise = try decode(#"{"date":"2017-05-10","project":"P","hours":7.349999999999}"#)
        #expect(errors(TimesheetRules.validateNew(tooPrecise, owner: "u")).map(\.code) == [.tooPrecise])
        let fine = try decode(#"{"date":"2017-05-10","project":"P","hours":7.35}"#)
        #expect(try TimesheetRules.validateNew(fine, owner: "u").get().hours == Hours(hundredths: 735))
    }

    @Test func reportsEveryProblemAtOnce() throws {
        let input = try decode(#"{"date":"2017-02-30","project":"   ","hours":25,"notes":7,"proj":"x"}"#)
        let found = errors(TimesheetRules.validateNew(input, owner: "u"))
        #expect(found.map(\.field).sorted() == ["date", "hours", "notes", "proj", "project"])
        #expect(Set(found.map(\.code)) == [.invalidDate, .empty, .outOfRange, .invalidType, .unknownField])
        #expect(found.allSatisfy { !$0.message.isEmpty })
    }

    @Test func missingFieldsAreRequired() throws {
        let found = errors(TimesheetRules.validateNew(try decode("{}"), owner: nil))
        #expect(found.map(\.field) == ["user_id", "date", "project", "hours"])
        #expect(found.allSatisfy { $0.code == .required })
        let nulls = errors(
            TimesheetRules.validateNew(try decode(#"{"date":null,"project":null,"hours":null}"#), owner: "u")
        )
        #expect(nulls.map(\.code) == [.required, .required, .required])
    }

    @Test func eachValidationMessage() throws {
        func problem(_ json: String, owner: String? = "u") throws -> FieldError? {
            errors(TimesheetRules.validateNew(try decode(json), owner: owner)).first
        }
        let base = #""date":"2017-05-10","project":"P","hours":1"#
        #expect(
            try problem(#"{"date":"2017-05-10","project":"P","hours":0}"#)?.message
                == "Hours must be greater than 0 and at most 24."
        )
        #expect(
            try problem(#"{"date":"2017-05-10","project":"P","hours":1.005}"#)?.message
                == "Hours may have at most two decimals, e.g. 7.25."
        )
        #expect(
            try problem(#"{"date":"2017-05-10","project":"P","hours":"lots"}"#)?.message
                == "Expected a plain decimal number of hours such as 7.5."
        )
        #expect(
            try problem(#"{"date":"2017-05-10","project":"P","hours":true}"#)?.message
                == "Expected a number of hours such as 7.5, got a boolean."
        )
        #expect(try problem(#"{"date":"2017-05-10","project":"P","hours":[1]}"#)?.code == .invalidType)
        #expect(
            try problem(#"{"date":"yesterday","project":"P","hours":1}"#)?.message
                == "Use YYYY-MM-DD or an ISO 8601 date-time such as 2017-05-10T17:40:20Z."
        )
        #expect(
            try problem(#"{"date":"2017-05-10T10:00:00","project":"P","hours":1}"#)?.message
                == "A date-time needs Z or an offset such as +02:00, so its UTC day is known."
        )
        #expect(
            try problem(#"{"date":20170510,"project":"P","hours":1}"#)?.message
                == "Expected a date string such as 2017-05-10, got a number."
        )
        #expect(
            try problem(#"{"date":"2017-05-10","project":"\#(String(repeating: "x", count: 201))","hours":1}"#)?.code
                == .tooLong
        )
        #expect(
            try problem(#"{"date":"2017-05-10","project":"\#(String(repeating: "x", count: 200))","hours":1}"#) == nil
        )
        #expect(
            try problem(#"{"date":"2017-05-10","project":"a\u0000b","hours":1}"#)?.message
                == "Remove control characters."
        )
        #expect(try problem(#"{"date":"2017-05-10","project":"a\tb","hours":1}"#)?.code == .controlCharacters)
        #expect(
            try problem(#"{\#(base),"notes":"\#(String(repeating: "n", count: 2_001))"}"#)?.message
                == "At most 2000 characters are allowed."
        )
        #expect(try problem(#"{\#(base),"notes":"\#(String(repeating: "n", count: 2_000))"}"#) == nil)
        #expect(try problem(#"{\#(base),"notes":"line\nbreak\tand tab"}"#) == nil)
        #expect(try problem(#"{\#(base),"notes":"nul\u0000"}"#)?.code == .controlCharacters)
        #expect(
            try problem(#"{\#(base),"user_id":"someone-else"}"#)?.message
                == "Entries belong to the caller; omit user_id or send your own id."
        )
        #expect(try problem(#"{\#(base),"user_id":"u"}"#) == nil)
        #expect(try problem(#"{\#(base),"user_id":""}"#, owner: nil)?.code == .empty)
        #expect(
            try problem(#"{\#(base),"approved":true}"#)?.message
                == "Unknown field; the fields are user_id, date, project, hours, notes."
        )
    }

    @Test func projectIsTrimmedAndLengthCountsCharacters() throws {
        let input = try decode(#"{"date":"2017-05-10","project":"  Store Zero \n","hours":1}"#)
        #expect(try TimesheetRules.validateNew(input, owner: "u").get().project == "Store Zero")
        let emoji = String(repeating: "🚀", count: 200)
        let wide = try decode(#"{"date":"2017-05-10","project":"\#(emoji)","hours":1}"#)
        #expect(try TimesheetRules.validateNew(wide, owner: "u").get().project == emoji)
    }

    @Test func formBodiesAreAllText() throws {
        let input = EntryBody(form: [("date", "2017-05-10"), ("project", "P"), ("hours", "2.5"), ("colour", "red")])
            .input
        #expect(errors(TimesheetRules.validateNew(input, owner: "u")).map(\.code) == [.unknownField])
        let clean = EntryBody(form: [("date", "2017-05-10"), ("project", "P"), ("hours", "2.5")]).input
        #expect(try TimesheetRules.validateNew(clean, owner: "u").get().hours == Hours(hundredths: 250))
    }

    @Test func patchChangesOnlyWhatIsSent() throws {
        let changes = try TimesheetRules.validateChanges(try decode(#"{"hours":3}"#), owner: "u", replacing: false)
            .get()
        #expect(changes == TimesheetChanges(hours: Hours(hundredths: 300)))
        let clearing = try TimesheetRules.validateChanges(try decode(#"{"notes":null}"#), owner: "u", replacing: false)
            .get()
        #expect(clearing.notes == .some(nil))
        let empty = errors(TimesheetRules.validateChanges(try decode("{}"), owner: "u", replacing: false))
        #expect(empty.map(\.code) == [.required])
    }

    @Test func putRequiresTheWholeEntry() throws {
        let found = errors(TimesheetRules.validateChanges(try decode(#"{"hours":3}"#), owner: "u", replacing: true))
        #expect(found.map(\.field) == ["date", "project"])
        let owner = errors(
            TimesheetRules.validateChanges(try decode(#"{"user_id":"v","hours":3}"#), owner: "u", replacing: false)
        )
        #expect(owner.map(\.code) == [.notAllowed])
    }

    @Test func unknownFieldsComeFirstInNameOrder() throws {
        let found = errors(
            TimesheetRules.validateNew(
                try decode(#"{"zeta":1,"date":"x","alpha":2,"project":"P","hours":1}"#),
                owner: "u"
            )
        )
        #expect(found.map(\.field) == ["alpha", "zeta", "date"])
        // A domain property name is not a wire name: it is reported as the client sent it.
        let camel = errors(
            TimesheetRules.validateNew(
                try decode(#"{"userID":"v","date":"2017-05-10","project":"P","hours":1}"#),
                owner: nil
            )
        )
        #expect(camel.map(\.field) == ["userID", "user_id"])
        #expect(camel.map(\.code) == [.unknownField, .required])
    }
}
