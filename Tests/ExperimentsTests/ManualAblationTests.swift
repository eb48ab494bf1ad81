import Autograd
import Foundation
import GPT
import SAE
import Tensor
import Testing
@testable import Experiments

/// The batched manual-ablation attributor equals the one-ablation-at-a-time definition, and for the FF layer
/// the same written out in plain arithmetic.
@Suite struct ManualAblationTests {
  @Test func matchesDefinitionForEveryPlacement() throws {
    let models: [(String, SparsifiedGPT)] = [("transformer block", try TestModels.transformerBlock(seed: 51)),
                                             ("FF layer", try TestModels.ffLayer(seed: 52)),
                                             ("FF block", try TestModels.ffBlock(seed: 53))]
    let tokens = TestModels.tokens(rows: 2, length: 6, seed: 54)
    for (name, model) in models {
      for epsilon: Float in [0, 0.3] {
        let attributor = try ManualAblationAttributor(model: model, layers: [1], epsilon: epsilon)
        try attributor.accumulate(tokens)
        let pair = attributor.pairs[0]
        let got = try #require(attributor.attributions()[pair.attributionKey])
        let expected = try ReferenceAttribution.manualAblation(pair, tokens: tokens, epsilon: epsilon)
        #expect(expected.max() > 0, "\(name): degenerate")
        #expect(got.maxAbsDifference(expected) <= 1e-4 * expected.max(), "\(name) ε \(epsilon): \(got.maxAbsDifference(expected))")
      }
    }
  }

  /// An independent check: the FF-layer attributions written out in plain Double arithmetic from the weights
  /// alone (no `CircuitPair`, no path or encoder code of the library): the clean MLP input
  /// ln_2(x + attn(ln_1(x))) of block 0, the TopK magnitudes of the mlpin SAE, and for every upstream feature
  /// above ε the |Δ| of the mlpout SAE's TopK encoding of mlp(decode(f)) with that one feature zeroed, added
  /// into row i (the FF layer is position-wise, so only that position changes).
  @Test func feedForwardLayerMatchesPlainArithmetic() throws {
    let model = try TestModels.ffLayer(seed: 57)
    let tokens = TestModels.tokens(rows: 2, length: 5, seed: 58)
    let epsilon: Float = 0.05
    let attributor = try ManualAblationAttributor(model: model, layers: [0], epsilon: epsilon)
    try attributor.accumulate(tokens)
    let got = try #require(attributor.attributions()["MLP_0"])

    let block = model.gpt.blocks[0]
    let mlpIn = try withNoGrad {
      let x = try model.gpt.embed(tokens)
      return block.ln2(x + block.attn(block.ln1(x))).value
    }
    let up = try #require(model.saes[SAEKey("0_mlpin")!] as? TopKSAE)
    let down = try #require(model.saes[SAEKey("0_mlpout")!] as? TopKSAE)
    func rows(_ t: Tensor) -> [[Double]] {
      let c = t.shape.last!, s = t.scalars.map(Double.init)
      return (0..<(t.count / c)).map { Array(s[($0 * c)..<(($0 + 1) * c)]) }
    }
    func vector(_ t: Tensor) -> [Double] { t.scalars.map(Double.init) }
    /// x·W (W as rows [in][out]) + b.
    func affine(_ x: [Double], _ w: [[Double]], _ b: [Double]) -> [Double] {
      var y = b
      for (i, xi) in x.enumerated() { for j in y.indices { y[j] += xi * w[i][j] } }
      return y
    }
    func transpose(_ w: [[Double]]) -> [[Double]] { w[0].indices.map { j in w.map { $0[j] } } }
    func topK(_ pre: [Double], _ k: Int) -> [Double] {
      let relu = pre.map { Swift.max($0, 0) }
      let kth = relu.sorted(by: >)[k - 1]
      return relu.map { $0 >= kth ? $0 : 0 }
    }
    func gelu(_ x: Double) -> Double { 0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x))) }
    let wEnc0 = rows(up.wEnc.value), bEnc0 = vector(up.bEnc.value), wDec0 = rows(up.wDec.value), bDec0 = vector(up.bDec.value)
    let wEnc1 = rows(down.wEnc.value), bEnc1 = vector(down.bEnc.value), bDec1 = vector(down.bDec.value)
    let wFc = transpose(rows(block.mlp.cFc.weight.value)), bFc = vector(block.mlp.cFc.bias!.value)
    let wProj = transpose(rows(block.mlp.cProj.weight.value)), bProj = vector(block.mlp.cProj.bias!.value)
    func encodeUp(_ x: [Double]) -> [Double] { topK(affine(zip(x, bDec0).map { $0 - $1 }, wEnc0, bEnc0), up.k) }
    func downstream(_ f: [Double]) -> [Double] {
      let xhat = affine(f, wDec0, bDec0)
      let y = affine(affine(xhat, wFc, bFc).map(gelu), wProj, bProj)
      return topK(affine(zip(y, bDec1).map { $0 - $1 }, wEnc1, bEnc1), down.k)
    }
    var expected = [[Double]](repeating: [Double](repeating: 0, count: down.featureCount), count: up.featureCount)
    var ablations = 0
    for x in rows(mlpIn) {
      let f = encodeUp(x), clean = downstream(f)
      for i in f.indices where f[i] > Double(epsilon) {
        var ablated = f
        ablated[i] = 0
        for (j, v) in downstream(ablated).enumerated() { expected[i][j] += abs(v - clean[j]) }
        ablations += 1
      }
    }
    #expect(ablations >= 10, "too few active features: \(ablations)")
    let flat = expected.flatMap { $0 }
    let scale = flat.max()!
    #expect(scale > 0)
    #expect(got.shape == [up.featureCount, down.featureCount])
    let worst = zip(got.scalars, flat).map { abs(Double($0) - $1) }.max()!
    #expect(worst <= 1e-4 * scale, "max |Δ| \(worst) (largest attribution \(scale))")
  }

  @Test func rejectsBadEpsilon() throws {
    let model = try TestModels.ffLayer(seed: 1)
    #expect(throws: ExperimentError.self) { try ManualAblationAttributor(model: model, epsilon: -1) }
    #expect(throws: ExperimentError.self) { try ManualAblationAttributor(model: model, epsilon: .nan) }
  }
}
