import Foundation
import GPT
import SAE
import Tensor
import Testing
import TestSupport
@testable import Training

/// Evaluation over a split holding fewer windows than evaluation batches: each distinct window is computed
/// once, the results come back in batch order, and the loader ends where plain `nextBatch()` calls leave it.
@Suite struct RepeatedWindowTests {
  @Test func skipBatchMovesLikeNextBatch() throws {
    let directory = try DataLoaderTests.twoShardDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    var plain = try TokenDataLoader(directory: directory, split: .train, batchSize: 2, sequenceLength: 4)
    var skipping = plain
    for i in 0..<40 {
      _ = try plain.nextBatch()
      if i % 3 == 0 { _ = try skipping.nextBatch() } else { try skipping.skipBatch() }
      #expect(plain.position == skipping.position)
    }
  }

  @Test func mapBatchesComputesEachWindowOnceInBatchOrder() throws {
    let directory = try DataLoaderTests.twoShardDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    // The val shard holds 50 tokens: windows of 2×4 + 1 start at 0, 8, …, 40 (6 windows), then it cycles.
    var loader = try TokenDataLoader(directory: directory, split: .val, batchSize: 2, sequenceLength: 4)
    var reference = loader
    var calls = 0
    let firsts = try loader.mapBatches(20) { x, y -> [Int32] in
      calls += 1
      return [x.scalars[0], y.scalars.last!]
    }
    var expected: [[Int32]] = []
    for _ in 0..<20 {
      let (x, y) = try reference.nextBatch()
      expected.append([x.scalars[0], y.scalars.last!])
    }
    #expect(firsts == expected)
    #expect(calls == 6)
    #expect(loader.position == reference.position)
  }

  /// A sparsified GPT's metrics averaged over 9 batches of a 2-window val split: the same bits as metrics
  /// computed batch by batch.
  @Test func sparsifiedEvaluationMatchesBatchByBatch() throws {
    let directory = try makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    var g = RandomGenerator(seed: 7)
    try DataLoaderTests.writeShard((0..<40).map { _ in g.nextInt(below: 128) }, "val_000000.npy", in: directory)
    let gptConfig = GPTConfig(blockSize: 8, vocabSize: 128, nLayer: 2, nHead: 2, nEmbd: 16)
    let saeConfig = SAEConfig(nFeatures: [32, 32, 32], saeVariant: .topK, topK: [4, 4, 4],
                              saeKeys: (0..<3).map { SAEKey(layer: $0, hookPoint: .act) })
    let model = try SparsifiedGPT(gpt: try GPT(config: gptConfig, seed: 1), config: saeConfig, seed: 3)
    var loader = try TokenDataLoader(directory: directory, split: .val, batchSize: 2, sequenceLength: 8)
    let averaged = try SparsifiedEvaluation.evaluate(model, loader: &loader, batches: 9)
    var plain = loader
    plain.reset()
    var all: [SparsifiedMetrics] = []
    for _ in 0..<9 {
      let (x, y) = try plain.nextBatch()
      all.append(try model.metrics(x, targets: y))
    }
    let expected = SparsifiedMetrics.mean(all)
    #expect(averaged.ceLoss.bitPattern == expected.ceLoss.bitPattern)
    #expect(averaged.compoundCEIncrease.bitPattern == expected.compoundCEIncrease.bitPattern)
    for key in model.keys {
      #expect(averaged.ceIncrease[key]?.bitPattern == expected.ceIncrease[key]?.bitPattern)
      #expect(averaged.l0[key]?.bitPattern == expected.l0[key]?.bitPattern)
      #expect(averaged.saeLoss[key]?.bitPattern == expected.saeLoss[key]?.bitPattern)
    }
  }
}
