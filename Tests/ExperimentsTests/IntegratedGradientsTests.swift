import Autograd
import Foundation
import GPT
import SAE
import Tensor
import Testing
@testable import Experiments

/// The batched IG attributor equals the one-target-at-a-time definition on small random models.
@Suite struct IntegratedGradientsTests {
  /// Fast vs reference for every pair of `model`, over two batches.
  func compare(_ model: SparsifiedGPT, steps: Int, rows: Int = 3, length: Int = 12, seed: UInt64) throws {
    let attributor = try IntegratedGradientsAttributor(model: model, steps: steps)
    let batches = [TestModels.tokens(rows: rows, length: length, seed: seed),
                   TestModels.tokens(rows: rows, length: length, seed: seed + 1)]
    for b in batches { try attributor.accumulate(b) }
    let fast = attributor.attributions()
    #expect(fast.count == attributor.pairs.count)
    for pair in attributor.pairs {
      let parts = try batches.map { try ReferenceAttribution.integratedGradients(pair, tokens: $0, steps: steps) }
      // Per-batch results are square roots of sums of squares; combine them the same way.
      let reference = (parts[0] * parts[0] + parts[1] * parts[1]).unary(.sqrt)
      let got = try #require(fast[pair.attributionKey])
      #expect(got.shape == [pair.upstream.featureCount, pair.downstream.featureCount])
      let err = relativeFrobenius(got, reference)
      #expect(err < 2e-5, "\(pair.attributionKey): relative Frobenius error \(err)")
      #expect(got.maxAbsDifference(reference) <= 1e-4 * reference.max(), "\(pair.attributionKey)")
      #expect(reference.max() > 0, "degenerate test: all attributions zero")
    }
  }

  @Test func transformerBlockMatchesPerTargetDefinition() throws {
    try compare(try TestModels.transformerBlock(seed: 11), steps: 3, seed: 5)
  }

  @Test func transformerBlockWithDynamicTanhMatches() throws {
    try compare(try TestModels.transformerBlock(seed: 12, norm: .dynamicTanh), steps: 2, seed: 6)
  }

  @Test func feedForwardLayerMatchesPerTargetDefinition() throws {
    try compare(try TestModels.ffLayer(seed: 13), steps: 4, seed: 7)
  }

  @Test func feedForwardBlockStaircaseMatchesPerTargetDefinition() throws {
    try compare(try TestModels.ffBlock(seed: 14), steps: 3, seed: 8)
  }

  @Test func feedForwardBlockWithDynamicTanhMatches() throws {
    try compare(try TestModels.ffBlock(seed: 15, norm: .dynamicTanh), steps: 2, seed: 9)
  }

  @Test func singleStepIntegratesAtTheBaseline() throws {
    try compare(try TestModels.ffLayer(seed: 16), steps: 1, seed: 10)
  }

  /// JumpReLU-like SAEs: θ baseline upstream, a non-TopK (autograd) downstream encoder.
  @Test(arguments: [SAEPlacement.transformerBlock, .ffLayer, .ffBlock])
  func jumpReLUBaselineMatches(placement: SAEPlacement) throws {
    let gpt = try TestModels.gpt(seed: 21)
    let keys = placement.pair(layer: 1)
    let up = StubJumpReLUSAE(key: keys.upstream, features: 18, embedding: 8, seed: 1)
    let down = StubJumpReLUSAE(key: keys.downstream, features: 14, embedding: 8, seed: 2)
    let pair = try CircuitPair(placement: placement, layer: 1, upstream: up, downstream: down, gpt: gpt)
    let tokens = TestModels.tokens(rows: 3, length: 10, seed: 3)
    let attributor = try IntegratedGradientsAttributor(gpt: gpt, pairs: [pair], steps: 3)
    try attributor.accumulate(tokens)
    let got = try #require(attributor.attributions()[pair.attributionKey])
    let reference = try ReferenceAttribution.integratedGradients(pair, tokens: tokens, steps: 3)
    #expect(reference.max() > 0)
    let err = relativeFrobenius(got, reference)
    #expect(err < 2e-5, "relative Frobenius error \(err)")
    // The baseline matters: integrating from 0 instead gives different attributions.
    let f0Active = withNoGrad { up.encode(Variable(try! gpt.activations(tokens, at: [keys.upstream])[keys.upstream]!)).value }
    #expect(up.attributionBaseline(f0Active).max() > 0)
  }

  /// Registry variants without TopK (autograd cotangents, JumpReLU θ baseline from the SAE itself).
  @Test(arguments: [SAEVariant.jumpReLU, .jumpReLUStaircase, .standard, .gated])
  func nonTopKVariantsMatch(variant: SAEVariant) throws {
    try #require(SAEVariant.allCases.contains(variant), "variant \(variant.rawValue) has no builder")
    let gpt = try TestModels.gpt(seed: 17)
    let sizes = variant == .jumpReLUStaircase ? [12, 16, 20] : [16, 16, 16]
    let config = SAEConfig(nFeatures: sizes, saeVariant: variant, saeKeys: TestModels.keys(["0_act", "1_act", "2_act"]))
    try compare(try TestModels.sparsified(gpt, config, seed: 18), steps: 2, rows: 2, length: 8, seed: 19)
  }

  @Test func linspaceMatchesTorch() {
    #expect(IntegratedGradientsAttributor.linspace(1) == [0])
    #expect(IntegratedGradientsAttributor.linspace(2) == [0, 1])
    let four = IntegratedGradientsAttributor.linspace(4)
    #expect(four.count == 4 && four[0] == 0 && four[3] == 1)
    #expect(Swift.abs(four[1] - 1.0 / 3) < 1e-7 && Swift.abs(four[2] - 2.0 / 3) < 1e-7)
  }

  @Test func rejectsBadSettings() throws {
    let model = try TestModels.ffLayer(seed: 1)
    #expect(throws: ExperimentError.self) { try IntegratedGradientsAttributor(model: model, steps: 0) }
    #expect(throws: ExperimentError.self) { try IntegratedGradientsAttributor(model: model, layers: [5], steps: 2) }
    #expect(throws: ExperimentError.self) { try IntegratedGradientsAttributor(model: model, layers: [0, 0], steps: 2) }
  }
}
