import Foundation
import GPT
import Testing
import TestSupport
@testable import SAE

/// The sae.json fuzz harness's seeds and regression inputs (`FuzzInputs`): decoded, round-tripped and
/// validated against the presets' GPTs, or refused on one line; nothing traps.
@Suite struct FuzzRegressionTests {
  @Test func saeJSONInputs() throws {
    let gpt = try #require(GPTConfig.preset("ascii_64x4"))
    try FuzzInputs.replay("SAEJSON", minimum: 4) { name, data in
      let config = try SAEConfig.decode(data, source: name)
      #expect(try SAEConfig.decode(config.jsonData(), source: name) == config)
      try config.validate(for: gpt)
    }
    // A sae.json whose SAEs could not fit their files is refused before the SAEs are allocated.
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sae-size-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: dir) }
    try GPTCheckpoint.save(try GPT(config: GPTConfig(blockSize: 4, vocabSize: 8, nLayer: 1, nHead: 1, nEmbd: 4)), to: dir)
    try Data("{\"n_features\": [4000000000000], \"sae_variant\": \"topk\", \"top_k\": [1], \"sae_keys\": [\"0_act\"]}".utf8)
      .write(to: dir.appendingPathComponent("sae.json"))
    let error = try #require(throws: SAEError.self) { _ = try SparsifiedGPT.load(from: dir) }
    #expect(error.description == "the SAE files in \(dir.path) hold 0 bytes, too few for the SAEs sae.json describes (n_features [4000000000000])")
  }
}
