import Autograd
import Foundation
import GPT
import Tensor
import Testing

/// Records every hook point it is offered, in order, and passes the activation on unchanged.
final class RecordingHook: GPTHook {
  var seen: [String] = []
  var values: [String: Tensor] = [:]
  func intercept(_ point: HookPoint, layer: Int, _ x: Variable) -> Variable {
    let key = "\(layer)_\(point.rawValue)"
    seen.append(key)
    values[key] = x.value
    return x
  }
}

/// Replaces the activation at one (point, layer) with `transform` of it.
final class ReplacingHook: GPTHook {
  let point: HookPoint
  let layer: Int
  let transform: (Tensor) -> Tensor
  var fired = 0
  init(_ point: HookPoint, layer: Int, _ transform: @escaping (Tensor) -> Tensor) {
    self.point = point
    self.layer = layer
    self.transform = transform
  }
  func intercept(_ point: HookPoint, layer: Int, _ x: Variable) -> Variable {
    guard point == self.point && layer == self.layer else { return x }
    fired += 1
    return Variable(transform(x.value))
  }
}

/// The GPT forward pass: parameter count, partial forwards, hook points (spec sections 2 and 5), generation.
@Suite struct GPTForwardTests {
  /// Three layers so that partial forwards have a middle.
  static let config = GPTConfig(blockSize: 16, vocabSize: 40, nLayer: 3, nHead: 2, nEmbd: 8)

  @Test func presetParameterCounts() throws {
    let model = try GPT(config: try #require(GPTConfig.preset("ascii_64x4")))
    #expect(model.parameterCount == 216_448)
    // Every parameter once: the head shares wte's storage.
    #expect(Set(model.namedParameters.map(\.0)).count == model.namedParameters.count)
    #expect(!model.namedParameters.contains { $0.0 == "lm_head.weight" })
  }

  @Test func initialisationFollowsTheSpec() throws {
    let model = try GPT(config: try #require(GPTConfig.preset("ascii_64x4")), seed: 9)
    for (name, p) in model.namedParameters {
      let v = p.value.scalars
      let mean = v.reduce(0, +) / Float(v.count)
      let std = (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(v.count)).squareRoot()
      if name.hasSuffix("c_proj.weight") {
        #expect(abs(std - 0.02 / Float(8).squareRoot()) < 0.0015, "\(name): std \(std)")
      } else if name.hasSuffix("ln_1.weight") || name.hasSuffix("ln_2.weight") || name.hasSuffix("ln_f.weight") {
        #expect(v.allSatisfy { $0 == 1 }, "\(name)")
      } else if name.hasSuffix(".bias") {
        #expect(v.allSatisfy { $0 == 0 }, "\(name)")
      } else {
        #expect(abs(std - 0.02) < 0.0015 && abs(mean) < 0.002, "\(name): mean \(mean) std \(std)")
      }
    }
  }

  @Test func partialForwardsCompose() throws {
    let model = try GPTTestSupport.perturbedModel(Self.config, seed: 21)
    let n = Self.config.nLayer
    let tokens = GPTTestSupport.tokens(2, 16, vocab: 40)
    try withNoGrad {
      let full = try model(tokens).value
      for k in 0...n {
        let mid = try model.forward(tokens, stopAt: k)
        #expect(mid.shape == [2, 16, 8])
        #expect(model.forward(residual: mid, startAt: k).value == full, "stopAt \(k) then startAt \(k)")
        if k < n {
          // Negative indices count from the end.
          #expect(model.forward(residual: mid, startAt: k - n).value == full, "startAt \(k - n)")
          if k > 0 { #expect(try model.forward(tokens, stopAt: k - n).value == mid.value, "stopAt \(k - n)") }
          // Two partial pieces: k ..< k+1, then the rest.
          let next = model.forward(residual: mid, startAt: k, stopAt: k + 1)
          #expect(next.value == (try model.forward(tokens, stopAt: k + 1)).value)
        }
      }
      // stopAt n is the input of ln_f; the head turns it into the logits.
      #expect(model.head(try model.forward(tokens, stopAt: n)).value == full)
      #expect(try model.forward(tokens, stopAt: 0).value == (try model.embed(tokens)).value)
    }
  }

  // MARK: hooks

  @Test func observingHookChangesNothingAndSeesEveryPoint() throws {
    let model = try GPTTestSupport.perturbedModel(Self.config, seed: 22)
    let tokens = GPTTestSupport.tokens(2, 16, vocab: 40)
    let hook = RecordingHook()
    let clean = try withNoGrad { try model(tokens).value }
    let observed = try withNoGrad { try model(tokens, hook: hook).value }
    #expect(observed == clean)
    var expected: [String] = []
    for i in 0..<3 { expected += ["\(i)_act", "\(i)_residmid", "\(i)_mlpin", "\(i)_mlpout", "\(i)_residpost"] }
    expected.append("3_act")
    #expect(hook.seen == expected)
    for i in 0..<3 {
      let v = hook.values
      #expect(v["\(i + 1)_act"] == v["\(i)_residpost"])
      #expect(GPTTestSupport.maxDiff(v["\(i)_residmid"]! + v["\(i)_mlpout"]!, v["\(i)_residpost"]!) == 0)
    }
  }

  /// Recomputes the forward with the activation at (point, layer) replaced by `r`, from the model's parts
  /// and the exact patch points of spec section 5.
  static func manualForward(_ model: GPT, _ tokens: IntTensor, point: HookPoint, layer i: Int,
                            _ r: (Tensor) -> Tensor) throws -> Tensor {
    let n = model.config.nLayer
    let x = try model.forward(tokens, stopAt: i)
    if point == .act {
      let replaced = Variable(r(x.value))
      return (i == n ? model.head(replaced) : model.forward(residual: replaced, startAt: i)).value
    }
    let block = model.blocks[i]
    let residMid = x + block.attn(block.ln1(x))
    let post: Variable
    switch point {
    case .residmid: post = residMid + block.mlp(block.ln2(Variable(r(residMid.value))))  // the skip stays clean
    case .mlpin: post = residMid + block.mlp(Variable(r(block.ln2(residMid).value)))
    case .mlpout: post = residMid + Variable(r(block.mlp(block.ln2(residMid)).value))
    case .residpost: post = Variable(r((residMid + block.mlp(block.ln2(residMid))).value))
    case .act: fatalError("handled above")
    }
    return model.forward(residual: post, startAt: i + 1).value
  }

  @Test(arguments: HookPoint.allCases)
  func replacingHookChangesExactlyItsPoint(_ point: HookPoint) throws {
    let model = try GPTTestSupport.perturbedModel(Self.config, seed: 23)
    let tokens = GPTTestSupport.tokens(2, 16, vocab: 40)
    // Not invariant under a norm: a per-channel offset (a row-wise affine change would pass through LayerNorm).
    let r: (Tensor) -> Tensor = { x in
      Tensor(shape: x.shape, scalars: x.scalars.enumerated().map { i, v in 0.5 * v + Foundation.sin(Float(i % 8) + 1) })
    }
    let layers = point == .act ? Array(0...3) : Array(0..<3)
    try withNoGrad {
      let clean = try model(tokens).value
      for i in layers {
        let hook = ReplacingHook(point, layer: i, r)
        let patched = try model(tokens, hook: hook).value
        #expect(hook.fired == 1, "\(i)_\(point.rawValue) offered \(hook.fired) times")
        let expected = try Self.manualForward(model, tokens, point: point, layer: i, r)
        #expect(GPTTestSupport.maxDiff(patched, expected) <= 1e-5, "\(i)_\(point.rawValue)")
        #expect(GPTTestSupport.maxDiff(patched, clean) > 1e-3, "\(i)_\(point.rawValue) had no effect")
        if point == .residmid {
          // Replacing the skip too would be a different model: the test distinguishes the two.
          let x = try model.forward(tokens, stopAt: i)
          let block = model.blocks[i]
          let replaced = Variable(r((x + block.attn(block.ln1(x))).value))
          let both = model.forward(residual: replaced + block.mlp(block.ln2(replaced)), startAt: i + 1).value
          #expect(GPTTestSupport.maxDiff(patched, both) > 1e-3)
        }
      }
    }
  }

  // MARK: generation

  @Test func generationIsDeterministicForASeed() throws {
    let model = try GPTTestSupport.perturbedModel(GPTTestSupport.tiny, seed: 31)
    let prompt: [Int32] = [1, 2, 3, 4]
    func sample(_ seed: UInt64, topK: Int? = nil) throws -> [Int32] {
      var g = RandomGenerator(seed: seed)
      return try model.generate(prompt: prompt, count: 24, temperature: 1, topK: topK, generator: &g)
    }
    let a = try sample(5), b = try sample(5), c = try sample(6)
    #expect(a.count == 24 && a.allSatisfy { $0 >= 0 && $0 < 40 })
    #expect(a == b)
    #expect(a != c, "another seed gave the same 24 tokens")
    #expect(try sample(5, topK: 3) == (try sample(5, topK: 3)))
    // top-k 1 leaves only the best token: greedy.
    var g = RandomGenerator(seed: 1)
    #expect(try sample(7, topK: 1) == (try model.generate(prompt: prompt, count: 24, temperature: 0, generator: &g)))
  }

  @Test func temperatureZeroIsGreedy() throws {
    let model = try GPTTestSupport.perturbedModel(GPTTestSupport.tiny, seed: 32)
    // Longer than the block size by the end: the context is cropped to the last 16 tokens.
    let prompt: [Int32] = (0..<12).map { Int32($0 * 3 % 40) }
    var g1 = RandomGenerator(seed: 1), g2 = RandomGenerator(seed: 2)
    let greedy = try model.generate(prompt: prompt, count: 10, temperature: 0, generator: &g1)
    #expect(greedy == (try model.generate(prompt: prompt, count: 10, temperature: 0, generator: &g2)))
    var tokens = prompt
    try withNoGrad {
      for _ in 0..<10 {
        let context = Array(tokens.suffix(16))
        let logits = try model(IntTensor(shape: [1, context.count], scalars: context)).value.scalars
        let last = Array(logits.suffix(40))
        tokens.append(Int32(last.indices.max { last[$0] < last[$1] }!))
      }
    }
    #expect(greedy == Array(tokens.dropFirst(prompt.count)))
    let message = GPTTestSupport.errorMessage { _ = try model.generate(prompt: [], count: 1, generator: &g1) }
    #expect(message?.contains("prompt") == true)
  }
}
