// sae.json: SAEConfig.decode, then validation against the presets' GPT shapes and the size bound the loader
// checks before allocating. An accepted config re-encodes to one that decodes equal.
import Foundation
import GPT
import SAE

private let gpts = GPTConfig.presetNames.compactMap { GPTConfig.preset($0) }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSAEJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard let config = accepted({ try SAEConfig.decode(input(data, size), source: "sae.json") }) else { return 0 }
  if let again = mustSucceed("decoding the re-encoded config", { try SAEConfig.decode(config.jsonData(), source: "re-encoded") }) {
    require(again == config, "round trip changed the config")
  }
  for gpt in gpts where accepted({ try config.validate(for: gpt) }) != nil {
    _ = config.placement
    _ = config.minimumWeightCount(nEmbd: gpt.nEmbd)
  }
  return 0
}
