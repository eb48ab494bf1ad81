import Foundation
import GPT
import SAE
import Tensor
import Testing
@testable import Experiments

/// The batched manual-ablation attributor equals the one-ablation-at-a-time definition.
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

  @Test func rejectsBadEpsilon() throws {
    let model = try TestModels.ffLayer(seed: 1)
    #expect(throws: ExperimentError.self) { try ManualAblationAttributor(model: model, epsilon: -1) }
    #expect(throws: ExperimentError.self) { try ManualAblationAttributor(model: model, epsilon: .nan) }
  }
}
