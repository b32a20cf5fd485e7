import Foundation
import HTTPTypes
import Testing

@testable import TimesheetAPI

@Suite struct QueryParametersTests {
    @Test func firstValueWinsAndBareNamesAreEmpty() throws {
        let query = try QueryParameters("limit=5&project=Store+Zero&limit=9&flag&&empty=&a=b=c")
        #expect(query["limit"] == "5")
        #expect(query["project"] == "Store Zero")
        #expect(query["flag"] == "")
        #expect(query["empty"] == "")
        #expect(query["a"] == "b=c")
        #expect(query["missing"] == nil)
        #expect(try QueryParameters(nil)["limit"] == nil)
        #expect(try QueryParameters("")["limit"] == nil)
        #expect(try QueryParameters("pro%6Aect=x")["project"] == "x", "names are decoded too")
        #expect(try QueryParameters("q=a+b%2B%20c")["q"] == "a b+ c", "+ is a space, as browsers encode it")
    }

    @Test func malformedEscapesAreA400WithACode() {
        for bad in ["project=%FF", "status=%E2%82", "x=%", "x=%4", "x=%zz", "%ZZ=1"] {
            #expect {
                _ = try QueryParameters(bad)
            } throws: { error in
                (error as? Problem)?.code == "malformed_query" && (error as? Problem)?.status == .badRequest
            }
        }
    }
}
