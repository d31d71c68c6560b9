import FuzzSupport
import GridIntensity

/// Any bytes as an intensity file and as each provider's answer: a value accepted from them is always finite and
/// within the plausible range, and nothing crashes.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzGridInputs(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let now = 1_800_000_000.0
    let results = [
        IntensityFileFormat.parse(bytes, nowUnixSeconds: now).mapError { _ in ProviderFailure.malformed("") },
        ElectricityMapsResponse.parse(bytes, requestedZone: "FR", nowUnixSeconds: now),
        UKCarbonIntensityResponse.parseNational(bytes, nowUnixSeconds: now),
        UKCarbonIntensityResponse.parseRegional(bytes, zone: "13", nowUnixSeconds: now),
    ]
    for case .success(let reading) in results {
        precondition(reading.gramsPerKilowattHour.isFinite)
        precondition(IntensityReading.plausibleGramsPerKilowattHour.contains(reading.gramsPerKilowattHour))
    }
    let text = String(decoding: bytes, as: UTF8.self)
    _ = GridTimestamp.parseRFC3339(text)
    _ = GridTimestamp.parseHTTPDate(text)
    if let seconds = ProviderClient.retryAfterSeconds(text, nowUnixSeconds: now) { precondition(seconds >= 0) }
    return 0
}

runLibFuzzer { data, size in fuzzGridInputs(data, size) }
