import PowerSources
import XCTest

final class ValueParserTests: XCTestCase {
    func testPlainDigitsParse() {
        XCTAssertEqual(ValueParser.unsigned("0"), 0)
        XCTAssertEqual(ValueParser.unsigned("7"), 7)
        XCTAssertEqual(ValueParser.unsigned("262143328850"), 262_143_328_850)
    }

    func testEmptyStringIsRejected() {
        XCTAssertNil(ValueParser.unsigned(""))
    }

    func testWhitespaceOnlyIsRejected() {
        XCTAssertNil(ValueParser.unsigned(" \n"))
    }

    func testLettersAreRejected() {
        XCTAssertNil(ValueParser.unsigned("abc"))
        XCTAssertNil(ValueParser.unsigned("12a"))
        XCTAssertNil(ValueParser.unsigned("0x10"))
    }

    func testNegativeNumberIsRejected() {
        XCTAssertNil(ValueParser.unsigned("-5"))
    }

    func testExplicitPlusSignIsRejected() {
        XCTAssertNil(ValueParser.unsigned("+5"))
    }

    func testTwoNumbersSeparatedBySpaceAreRejected() {
        XCTAssertNil(ValueParser.unsigned("12 34"))
        XCTAssertNil(ValueParser.unsigned("12\n34"))
    }

    func testTwentyDigitNumberAboveUInt64MaxIsRejected() {
        XCTAssertNil(ValueParser.unsigned("99999999999999999999"))
        // One above UInt64.max: overflow in the last addition, not the multiplication.
        XCTAssertNil(ValueParser.unsigned("18446744073709551616"))
    }

    func testUInt64MaxExactlyParses() {
        XCTAssertEqual(ValueParser.unsigned("18446744073709551615"), UInt64.max)
        XCTAssertEqual(ValueParser.unsigned(String(UInt64.max)), UInt64.max)
    }

    func testTrailingNewlineIsTrimmed() {
        XCTAssertEqual(ValueParser.unsigned("123\n"), 123)
        XCTAssertEqual(ValueParser.unsigned("123\r\n"), 123)
    }

    func testSurroundingSpacesAreTrimmed() {
        XCTAssertEqual(ValueParser.unsigned(" 42 "), 42)
        XCTAssertEqual(ValueParser.unsigned("\t42\t"), 42)
    }

    func testSubstringInputParses() {
        let line = "MemTotal: 1024 kB"
        let field = line.split(separator: " ")[1]
        XCTAssertEqual(ValueParser.unsigned(field), 1024)
    }
}
