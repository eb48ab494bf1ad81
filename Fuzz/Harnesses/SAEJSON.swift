// sae.json: SAEConfig.decode, then validation against the presets' GPT shapes and the size bound the loader
// checks before allocating. An accepted config re-encodes to one that decodes equal.
import Foundation
import GPT
import SAE

private let gpts = GPTConfig.presetNames.compactMap { GPTConfig.preset($0) }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSAEJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let config: SAEConfig
  do {
    config = try SAEConfig.decode(input(data, size), source: "sae.json")
  } catch {
    requireOneLine(error)
    return 0
  }
  do {
    let again = try SAEConfig.decode(config.jsonData(), source: "re-encoded")
    require(again == config, "round trip changed the config")
  } catch {
    require(false, "re-encoded config does not decode: \(error)")
  }
  for gpt in gpts {
    do {
      try config.validate(for: gpt)
      _ = config.placement
      _ = config.minimumWeightCount(nEmbd: gpt.nEmbd)
    } catch {
      requireOneLine(error)
    }
  }
  return 0
}
