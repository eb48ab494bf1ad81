import Autograd
import Foundation
import GPT
import SAE
import Tensor
import Testing
@testable import Training

/// Reuse of the frozen GPT's activations across epochs: a batch is served from memory only when its tokens
/// equal a kept batch's, within the byte budget, and a run that reuses them equals one that recomputes them.
@Suite(.serialized) struct SharedActivationsTests {
  func bits(_ values: [SAEKey: Tensor]) -> [SAEKey: [UInt32]] { values.mapValues { $0.scalars.map(\.bitPattern) } }

  func parameters(_ trainer: SAETrainer) -> [String: [UInt32]] {
    Dictionary(uniqueKeysWithValues: trainer.model.namedParameters.map { ($0.0, $0.1.value.scalars.map(\.bitPattern)) })
  }

  @Test func keptBatchesAreServedWhenTheirTokensComeRoundAgain() throws {
    let w = try SAETrainingWorkspace()
    let gpt = try GPTCheckpoint.load(from: w.gptDirectory)
    let keys = SAEModelConfig.actKeys(5)
    var loader = try TokenDataLoader(directory: w.data, split: .train, batchSize: 2, sequenceLength: 128)
    let a = try loader.nextBatch().x, b = try loader.nextBatch().x, c = try loader.nextBatch().x
    let batchBytes = 2 * 128 * 4 + keys.count * 2 * 128 * 64 * 4

    let kept = SharedActivations(gpt: gpt, keys: keys, retainedBytes: 2 * batchBytes)
    let firstA = try kept.activations(a, keys: keys)
    _ = try kept.activations(b, keys: keys)
    _ = try kept.activations(c, keys: keys)  // over the budget: computed, not kept
    #expect(kept.heldBytes == 2 * batchBytes)
    let againA = try kept.activations(a, keys: keys), againC = try kept.activations(c, keys: keys)
    #expect(kept.misses == 4 && kept.hits == 1, "misses \(kept.misses) hits \(kept.hits)")
    let directA = try gpt.activations(a, at: keys), directC = try gpt.activations(c, at: keys)
    #expect(bits(againA) == bits(firstA) && bits(againA) == bits(directA))
    #expect(bits(againC) == bits(directC))

    let none = SharedActivations(gpt: gpt, keys: keys)
    for t in [a, b, a] { _ = try none.activations(t, keys: keys) }
    #expect(none.misses == 3 && none.hits == 0 && none.heldBytes == 0)
    let tooSmall = SharedActivations(gpt: gpt, keys: keys, retainedBytes: batchBytes - 1)
    for t in [a, b, a] { _ = try tooSmall.activations(t, keys: keys) }
    #expect(tooSmall.misses == 3 && tooSmall.heldBytes == 0)
  }

  /// The workspace's two 6,000-token shards hold 5 windows of 8 × 128 tokens each (the next would need token
  /// 6,145); a run reading 24 batches reads the first 10 again and 4 of them a third time.
  @Test func epochLengthAndReusableBatches() throws {
    let w = try SAETrainingWorkspace()
    var loader = try TokenDataLoader(directory: w.data, split: .train, batchSize: 8, sequenceLength: 128)
    #expect(try loader.batchesPerEpoch() == 10)
    _ = try loader.nextBatch()
    #expect(try loader.batchesPerEpoch() == 10, "counted from the reset position, wherever the loader is")
    #expect(try TokenDataLoader(directory: w.data, split: .train, batchSize: 1, sequenceLength: 128).batchesPerEpoch() == 92)
    #expect(SharedActivations.reusableBatches(epoch: 10, reads: 24) == 10)
    #expect(SharedActivations.reusableBatches(epoch: 10, reads: 13) == 3)
    #expect(SharedActivations.reusableBatches(epoch: 10, reads: 10) == 0)
    #expect(SharedActivations.reusableBatches(epoch: 10, reads: 4) == 0)
    // Lock-step runs: the longest one's re-reads, plus the evaluation's batches.
    #expect(SharedActivations.batchLimit(epoch: 10, reads: [24, 13], evalSteps: 2) == 12)
    #expect(SharedActivations.batchLimit(epoch: 10, reads: [4], evalSteps: 1) == 1)
    // Runs one after another from the start: every first-epoch batch a run reads, unless only one run is left.
    #expect(SharedActivations.batchLimit(epoch: 10, reads: [4, 4], oneAfterAnother: true, evalSteps: 1) == 5)
    #expect(SharedActivations.batchLimit(epoch: 10, reads: [24, 4], oneAfterAnother: true, evalSteps: 0) == 10)
    #expect(SharedActivations.batchLimit(epoch: 10, reads: [13], oneAfterAnother: true, evalSteps: 0) == 3)
  }

  /// A run shorter than an epoch keeps only as many batches as an evaluation reads (no training batch comes
  /// round again; here the TopK run's evaluations compute their own metrics, so the one kept is a training batch).
  @Test func aRunShorterThanAnEpochKeepsNothing() throws {
    let w = try SAETrainingWorkspace()
    var c = w.config(TestSAEModels.topK, name: "short", maxSteps: 6)
    c.batchSize = 8
    let t = try w.trainer(c)
    try t.retainActivations(bytes: 64 << 20)
    try t.train()
    let shared = try #require(t.sharedActivations)
    #expect(shared.retainedBatchLimit == 1 && shared.heldBatches == 1 && shared.misses == 6)
  }

  /// 24 steps of 8 × 128 tokens over two 6,000-token shards (5 batches each, so 10 per epoch): the GPT runs
  /// once on each of the 10 training batches (steps 11–24 reuse them; evaluations compute their own metrics),
  /// and the run's weights and files equal a recomputing run's.
  @Test func aRunThatReusesActivationsEqualsOneThatRecomputesThem() throws {
    let w = try SAETrainingWorkspace()
    var c = w.config(TestSAEModels.topK, name: "recomputed", maxSteps: 24)
    c.batchSize = 8
    let recomputed = try w.trainer(c)
    try recomputed.train()
    c.name = "reused"
    let reused = try w.trainer(c)
    try reused.retainActivations(bytes: 64 << 20)
    try reused.train()
    let shared = try #require(reused.sharedActivations)
    #expect(shared.misses == 10 && shared.hits == 14, "misses \(shared.misses) hits \(shared.hits)")
    #expect(shared.retainedBatchLimit == 11 && shared.heldBatches == 10)
    #expect(parameters(recomputed) == parameters(reused))
    #expect(recomputed.bestLosses == reused.bestLosses && recomputed.bestSteps == reused.bestSteps)
    for name in ["sae.0.safetensors", "sae.4.safetensors"] {
      let x = try Data(contentsOf: recomputed.runDirectory.appendingPathComponent(name))
      let y = try Data(contentsOf: reused.runDirectory.appendingPathComponent(name))
      #expect(x == y, "\(name) differs")
    }
  }
}
