import Autograd
import Foundation
import GPT
import Tensor
import Testing
@testable import SAE

@Suite struct FeatureActivityTests {
  @Test func countsFiringTokensAndDeadFeatures() throws {
    let gpt = try GPT(config: SAECheckpointTests.tinyGPT, seed: 1)
    let config = SAEConfig(nFeatures: [16, 16], saeVariant: .topK, topK: [3, 3],
                           saeKeys: [SAEKey(layer: 0, hookPoint: .act), SAEKey(layer: 1, hookPoint: .act)])
    let model = try SparsifiedGPT(gpt: gpt, config: config, seed: 2)
    // Feature 5 of the first SAE can never fire (b_enc −1e6 before the ReLU); feature 7 always does (+1e6).
    let first = model.orderedSAEs[0]
    let bias = try #require(first.namedParameters.first { $0.0 == "b_enc" }?.1)
    var values = bias.value.scalars
    values[5] = -1e6
    values[7] = 1e6
    bias.assign(Tensor(shape: bias.value.shape, scalars: values))
    var g = RandomGenerator(seed: 4)
    let t = SAECheckpointTests.tinyGPT.blockSize
    var activity = FeatureActivity()
    for _ in 0..<2 {
      let tokens = IntTensor(shape: [2, t], scalars: (0..<(2 * t)).map { _ in Int32(g.nextInt(below: SAECheckpointTests.tinyGPT.vocabSize)) })
      try activity.add(model, tokens: tokens)
    }
    #expect(activity.tokens == 4 * t)
    let counts = try #require(activity.counts[config.saeKeys[0]])
    #expect(counts[5] == 0 && counts[7] == 4 * t)
    // TopK k = 3 with positive pre-activations fires at most 3 features per token.
    #expect(counts.reduce(0, +) <= 3 * 4 * t && counts.reduce(0, +) > 0)
    let dead = counts.filter { $0 == 0 }.count
    #expect(activity.deadFraction(config.saeKeys[0]) == Double(dead) / 16 && dead >= 1)
    #expect(activity.frequencies(config.saeKeys[0])?[7] == 1)
    #expect(activity.deadFraction(SAEKey(layer: 3, hookPoint: .act)) == nil)
  }
}
