// Training-config JSON (a --config file): the first byte picks GPT (even) or SAE (odd) training config; the
// rest is decoded and validated as train-gpt / train-sae do. An accepted config round-trips through JSON.
import Foundation
import Training

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTrainingConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard size > 0 else { return 0 }
  let json = input(data + 1, size - 1)
  if data[0] & 1 == 0 {
    check(GPTTrainingConfig.self, json) { try $0.validate(); _ = try $0.architecture() }
  } else {
    check(SAETrainingConfig.self, json) { try $0.validate(); _ = try $0.model().architecture() }
  }
  return 0
}

private func check<C: Codable & Equatable>(_ type: C.Type, _ json: Data, validate: (C) throws -> Void) {
  let config: C
  do {
    config = try JSONDecoder().decode(C.self, from: json)
  } catch {
    return  // a decoding error: the tools describe it on one line (`describe(DecodingError)`)
  }
  guard accepted({ try validate(config) }) != nil else { return }
  let again = mustSucceed("a round trip of a valid config") { () throws -> C in
    let encoder = JSONEncoder()
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    let decoder = JSONDecoder()
    decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return try decoder.decode(C.self, from: try encoder.encode(config))
  }
  if let again { require(again == config, "round trip changed the config") }
}
