import XCTest

@testable import FootprintReport

final class PrometheusResponseTests: XCTestCase {
    func testAMatrixAnswerGivesEachSeriesAndItsRawSamples() throws {
        let body = """
            {"status":"success","data":{"resultType":"matrix","result":[
              {"metric":{"__name__":"footprint_workload_co2e_grams_total","kind":"pod","workload":"u1"},
               "values":[[1700000000,"1.5"],[1700000015.5,"2"],[1700000030,"NaN"]]},
              {"metric":{"kind":"pod","workload":"u2"},"values":[]}]}}
            """
        let series = try PrometheusResponse.matrix(Array(body.utf8))
        XCTAssertEqual(series.count, 2)
        XCTAssertEqual(series[0].labels["workload"], "u1")
        XCTAssertEqual(
            Array(series[0].samples.prefix(2)),
            [
                CounterSample(time: 1_700_000_000, value: 1.5), CounterSample(time: 1_700_000_015.5, value: 2),
            ])
        XCTAssertTrue(series[0].samples[2].value.isNaN)
        XCTAssertEqual(series[1].samples, [])
    }

    func testErrorsSayWhatWentWrong() {
        let cases: [(String, PrometheusResponseError)] = [
            (
                #"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#,
                .queryFailed(type: "bad_data", message: "parse error at char 5")
            ),
            (#"{"status":"success","data":{"resultType":"vector","result":[]}}"#, .unexpectedType("vector")),
        ]
        for (body, expected) in cases {
            XCTAssertThrowsError(try PrometheusResponse.matrix(Array(body.utf8))) { error in
                XCTAssertEqual(error as? PrometheusResponseError, expected)
            }
        }
        for body in [
            "<html>502 Bad Gateway</html>",
            #"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"x"]]}]}}"#, "",
        ] {
            XCTAssertThrowsError(try PrometheusResponse.matrix(Array(body.utf8)), body) { error in
                guard case .malformed = error as? PrometheusResponseError else { return XCTFail("\(error)") }
            }
        }
    }
}
