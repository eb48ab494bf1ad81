import Autograd
import Foundation
import GPT
import Tensor
import Testing

/// GPT checkpoint directories: bit-exact round trips for every norm strategy, either name of the tied
/// embedding, and one-line errors for every kind of bad input.
@Suite struct GPTCheckpointTests {
  static let strategies: [NormStrategy] = [.layerNorm, .dynamicTanh, .identity]

  static func config(_ norm: NormStrategy) -> GPTConfig {
    var c = GPTTestSupport.tiny
    c.normStrategy = norm
    return c
  }

  @Test(arguments: strategies)
  func roundTripIsBitExact(_ norm: NormStrategy) throws {
    let model = try GPTTestSupport.perturbedModel(Self.config(norm), seed: 11)
    let dir = try GPTTestSupport.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    try GPTCheckpoint.save(model, to: dir)
    let loaded = try GPTCheckpoint.load(from: dir)
    #expect(try GPTCheckpoint.configJSON(loaded.config) == GPTCheckpoint.configJSON(model.config))
    #expect(GPTTestSupport.bitEqual(model, loaded))
    let tokens = GPTTestSupport.tokens(2, 16, vocab: 40)
    let a = try withNoGrad { try model(tokens).value }, b = try withNoGrad { try loaded(tokens).value }
    #expect(a == b)
    #expect(a.isFinite)
    // A model from another seed differs (the comparison can fail).
    #expect(!GPTTestSupport.bitEqual(model, try GPT(config: Self.config(norm), seed: 12)))
  }

  @Test func normLayoutsFollowTheStrategy() throws {
    let dyt = try GPT(config: Self.config(.dynamicTanh), seed: 1)
    let names = dyt.namedParameters.map(\.0)
    #expect(names.contains("transformer.h.1.ln_2.alpha") && names.contains("transformer.h.1.ln_2.gamma")
            && names.contains("transformer.h.1.ln_2.beta") && names.contains("transformer.h.1.ln_1.weight")
            && names.contains("transformer.ln_f.bias"))
    #expect(!names.contains("transformer.h.0.ln_2.weight"))
    let identity = try GPT(config: Self.config(.identity), seed: 1)
    #expect(!identity.namedParameters.contains { $0.0.contains("ln_") })
  }

  /// DynamicTanh computes γ·tanh(α·x) + β on ln_2's input; Identity passes it through (checked at the
  /// MLP input of every block, from the recorded residual).
  @Test(arguments: [NormStrategy.dynamicTanh, .identity])
  func secondNormComputesItsDefinition(_ norm: NormStrategy) throws {
    let model = try GPTTestSupport.perturbedModel(Self.config(norm), seed: 5)
    let recorder = RecordingHook()
    let logits = try withNoGrad { try model(GPTTestSupport.tokens(2, 12, vocab: 40), hook: recorder).value }
    #expect(logits.isFinite && logits.shape == [2, 12, 40])
    for block in model.blocks {
      let x = try #require(recorder.values["\(block.layer)_residmid"])
      let y = try #require(recorder.values["\(block.layer)_mlpin"])
      if let dyt = block.ln2 as? DynamicTanh {
        let alpha = dyt.alpha.value.scalars[0], gamma = dyt.gamma.value.scalars, beta = dyt.beta.value.scalars
        let c = gamma.count
        let expected = Tensor(shape: x.shape, scalars: x.scalars.enumerated().map { i, v in
          gamma[i % c] * Foundation.tanh(alpha * v) + beta[i % c]
        })
        #expect(GPTTestSupport.maxDiff(y, expected) <= 1e-6)
        #expect(alpha != 2, "α was perturbed, so it was read from the parameter")
      } else {
        #expect(y == x)
      }
    }
  }

  // MARK: the tied embedding

  static func savedTiny(_ dir: URL, seed: UInt64 = 4) throws -> GPT {
    let model = try GPTTestSupport.perturbedModel(seed: seed)
    try GPTCheckpoint.save(model, to: dir)
    return model
  }

  static func rewriteWeights(in dir: URL, _ edit: (inout SafeTensorsFile) -> Void) throws {
    let url = dir.appendingPathComponent(GPTCheckpoint.weightsFile)
    var file = try SafeTensors.read(contentsOf: url)
    edit(&file)
    try SafeTensors.write(file, to: url)
  }

  @Test func loadingAcceptsEitherTiedName() throws {
    let dir = try GPTTestSupport.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let model = try Self.savedTiny(dir)
    // As PyTorch's state_dict() would have it: transformer.wte.weight, no metadata.
    try Self.rewriteWeights(in: dir) { f in
      f.tensors["transformer.wte.weight"] = f.tensors.removeValue(forKey: "lm_head.weight")
      f.metadata = [:]
    }
    #expect(GPTTestSupport.bitEqual(model, try GPTCheckpoint.load(from: dir)))
    // Both names holding the same tensor.
    try Self.rewriteWeights(in: dir) { f in f.tensors["lm_head.weight"] = f.tensors["transformer.wte.weight"] }
    #expect(GPTTestSupport.bitEqual(model, try GPTCheckpoint.load(from: dir)))
    // Both names, different tensors: the model ties them, so this is an error.
    try Self.rewriteWeights(in: dir) { f in f.tensors["lm_head.weight"] = f.tensors["lm_head.weight"]! * 2 }
    let message = try #require(GPTTestSupport.errorMessage { _ = try GPTCheckpoint.load(from: dir) })
    #expect(message.contains("lm_head.weight") && !message.contains("\n"), "\(message)")
  }

  // MARK: strict loading

  /// Each broken checkpoint fails with one line naming the problem.
  @Test func strictLoadingErrorsAreOneLine() throws {
    let cases: [(String, (URL) throws -> Void, [String])] = [
      ("missing tensor", { dir in try Self.rewriteWeights(in: dir) { $0.tensors["transformer.h.1.mlp.c_fc.bias"] = nil } },
       ["missing", "transformer.h.1.mlp.c_fc.bias"]),
      ("unexpected tensor", { dir in try Self.rewriteWeights(in: dir) { $0.tensors["transformer.h.2.ln_1.weight"] = Tensor(zeros: [8]) } },
       ["unexpected", "transformer.h.2.ln_1.weight"]),
      ("wrong shape", { dir in try Self.rewriteWeights(in: dir) { $0.tensors["transformer.wpe.weight"] = Tensor(zeros: [8, 8]) } },
       ["transformer.wpe.weight", "[16, 8]", "[8, 8]"]),
      ("corrupt file", { dir in
        try Data("\u{10}\0\0\0\0\0\0\0{\"a\": broken".utf8).write(to: dir.appendingPathComponent("model.safetensors")) },
       ["model.safetensors"]),
      ("truncated file", { dir in
        let url = dir.appendingPathComponent("model.safetensors")
        let data = try Data(contentsOf: url)
        try data.prefix(data.count - 100).write(to: url) }, ["model.safetensors"]),
      ("missing weights", { dir in try FileManager.default.removeItem(at: dir.appendingPathComponent("model.safetensors")) },
       ["model.safetensors", "missing"]),
      ("missing model.json", { dir in try FileManager.default.removeItem(at: dir.appendingPathComponent("model.json")) },
       ["model.json", "missing"]),
      ("bad JSON", { dir in try Data("{\"block_size\": 16,".utf8).write(to: dir.appendingPathComponent("model.json")) },
       ["model.json", "JSON"]),
      ("missing key", { dir in try Data("{\"block_size\": 16}".utf8).write(to: dir.appendingPathComponent("model.json")) },
       ["model.json", "vocab_size"]),
      ("unknown norm", { dir in
        try Data("{\"block_size\": 16, \"vocab_size\": 40, \"n_layer\": 2, \"n_head\": 2, \"n_embd\": 8, \"norm_strategy\": \"RMSNorm\"}".utf8)
          .write(to: dir.appendingPathComponent("model.json")) }, ["model.json", "norm_strategy"]),
      ("inconsistent config", { dir in
        try Data("{\"block_size\": 16, \"vocab_size\": 40, \"n_layer\": 2, \"n_head\": 3, \"n_embd\": 8, \"norm_strategy\": \"LayerNorm\"}".utf8)
          .write(to: dir.appendingPathComponent("model.json")) }, ["n_head", "3"]),
      ("config does not fit the weights", { dir in
        try Data("{\"block_size\": 16, \"vocab_size\": 40, \"n_layer\": 3, \"n_head\": 2, \"n_embd\": 8, \"norm_strategy\": \"LayerNorm\"}".utf8)
          .write(to: dir.appendingPathComponent("model.json")) }, ["missing", "transformer.h.2."]),
    ]
    for (label, breakIt, words) in cases {
      let dir = try GPTTestSupport.temporaryDirectory()
      defer { try? FileManager.default.removeItem(at: dir) }
      _ = try Self.savedTiny(dir)
      _ = try GPTCheckpoint.load(from: dir)  // intact before breaking it
      try breakIt(dir)
      let message = GPTTestSupport.errorMessage { _ = try GPTCheckpoint.load(from: dir) }
      #expect(message != nil, "\(label): loading did not fail")
      guard let message else { continue }
      #expect(!message.contains("\n"), "\(label): \(message)")
      for word in words { #expect(message.contains(word), "\(label): '\(message)' does not mention \(word)") }
    }
  }
}
