// model.json: GPTCheckpoint.decodeConfig (decode + validate) and the size check made before allocating a
// model. An accepted config re-encodes (the reference's layout) to one that decodes equal.
import Foundation
import GPT

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModelJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard let config = accepted({ try GPTCheckpoint.decodeConfig(input(data, size), source: "model.json") }) else { return 0 }
  require(config.blockSize > 0 && config.vocabSize > 0 && config.nLayer > 0 && config.nHead > 0 && config.nEmbd > 0,
          "non-positive dimension accepted")
  if let again = mustSucceed("decoding the re-encoded config", { try GPTCheckpoint.decodeConfig(try GPTCheckpoint.configJSON(config), source: "re-encoded") }) {
    var expected = config
    expected.alphaMLP = again.alphaMLP  // not stored in model.json
    require(again == expected, "round trip changed the config")
  }
  for bytes in [0, 1 << 20, 1 << 30] {
    _ = accepted { try GPTCheckpoint.checkSize(config, weightsBytes: bytes, source: "model.safetensors") }
  }
  return 0
}
