import Autograd
import Foundation
import GPT
import SAE
import Tensor
import Testing
@testable import Training

/// A temporary workspace: synthetic token shards, a random ascii_64x4 GPT checkpoint, a checkpoints dir.
final class SAETrainingWorkspace {
  let root: URL
  var data: URL { root.appendingPathComponent("data") }
  var gptDirectory: URL { root.appendingPathComponent("gpt") }
  var checkpoints: URL { root.appendingPathComponent("checkpoints") }

  init() throws {
    root = try makeTemporaryDirectory("saetrain")
    var g = RandomGenerator(seed: 11)
    // Tokens with some structure (a noisy repeating pattern) so the GPT's activations are not pure noise.
    func tokens(_ n: Int) -> [Int32] {
      (0..<n).map { i in Int32((i * 7 + g.nextInt(below: 5)) % 96 + 32) }
    }
    try TokenShards.write(tokens(12_000), split: .train, vocabularySize: 128, shardTokens: 6_000, to: data)
    try TokenShards.write(tokens(1_500), split: .val, vocabularySize: 128, shardTokens: 1_500, to: data)
    try GPTCheckpoint.save(try GPT(config: GPTConfig.preset("ascii_64x4")!, seed: 5), to: gptDirectory)
  }

  deinit { try? FileManager.default.removeItem(at: root) }

  /// A small run of `model`: batch 1 × 128 tokens, warmup 2, eval every 4 steps over 1 batch.
  func config(_ model: SAEModelConfig, name: String = "run", maxSteps: Int = 6, sparsity: [Float]? = nil) -> SAETrainingConfig {
    var c = SAETrainingConfig(name: name, saeConfig: model.name, dataDir: data.path, logInterval: 2, evalInterval: 4,
                              evalSteps: 1, batchSize: 1, learningRate: 3e-3, warmupSteps: 2, maxSteps: maxSteps,
                              minLR: 3e-4, lossCoefficients: SAELossCoefficients(sparsity: sparsity))
    c.saeModel = model
    return c
  }

  func trainer(_ config: SAETrainingConfig, seed: UInt64 = 3, lossTerms: [any SAELossTerm]? = []) throws -> ConcurrentSAETrainer {
    try ConcurrentSAETrainer(config: config, loadFrom: gptDirectory, checkpointsDirectory: checkpoints, seed: seed,
                             echo: false, lossTerms: lossTerms)
  }

  func evalLines(_ run: String) throws -> [String] {
    try String(contentsOf: checkpoints.appendingPathComponent(run).appendingPathComponent("eval.log"), encoding: .utf8)
      .split(separator: "\n").map(String.init)
  }
}

/// Small SAE models on ascii_64x4 for tests.
enum TestSAEModels {
  static let topK = SAEModelConfig(name: "test-topk", gptConfig: "ascii_64x4", nFeatures: [64, 64, 64, 64, 64],
                                   saeVariant: .topK, topK: [4, 4, 4, 4, 4], saeKeys: SAEModelConfig.actKeys(5))
  static let staircase = SAEModelConfig(name: "test-staircase", gptConfig: "ascii_64x4", nFeatures: [32, 64, 96, 128, 160],
                                        saeVariant: .topKStaircase, topK: [4, 4, 4, 4, 4], saeKeys: SAEModelConfig.actKeys(5))
  static let jsae = SAEModelConfig(name: "test-jsae", gptConfig: "ascii_64x4", nFeatures: [Int](repeating: 64, count: 8),
                                   saeVariant: .jsae, topK: [Int](repeating: 4, count: 8), saeKeys: SAEModelConfig.mlpLayerKeys(4))
  static let staircaseBlock = SAEModelConfig(name: "test-stairblock", gptConfig: "ascii_64x4",
                                             nFeatures: [32, 64, 32, 64, 32, 64, 32, 64], saeVariant: .staircaseBlock,
                                             topK: [Int](repeating: 4, count: 8), saeKeys: SAEModelConfig.mlpBlockKeys(4))
}

/// Adds `weight · Σ b_dec` of each pair's input SAE to its entry and logs it as `test_term`.
final class BiasSumTerm: SAELossTerm {
  let weight: Float
  init(weight: Float) { self.weight = weight }
  func loss(for batch: SAELossBatch) throws -> SAEExtraLoss {
    var terms: [Variable?] = [], values: [Float] = []
    for members in batch.layout.entries {
      let sae = batch.model.orderedSAEs[members[0]]
      let bias = sae.namedParameters.first { $0.0 == "b_dec" }!.1
      let t = bias.sum() * weight
      terms.append(t)
      values.append(t.value.scalar)
    }
    return SAEExtraLoss(perEntry: terms, metrics: [("test_term", values)])
  }
}

@Suite(.serialized) struct SAETrainerTests {
  func weights(_ trainer: ConcurrentSAETrainer) -> [String: [Float]] {
    Dictionary(uniqueKeysWithValues: trainer.model.namedParameters.map { ($0.0, $0.1.value.scalars) })
  }

  @Test(arguments: [TestSAEModels.topK, TestSAEModels.staircase])
  func resumedRunIsBitIdenticalToUninterruptedRun(_ model: SAEModelConfig) throws {
    let w = try SAETrainingWorkspace()
    let whole = try w.trainer(w.config(model, name: "whole"))
    #expect(try whole.train() == 6)

    let first = try w.trainer(w.config(model, name: "split"))
    #expect(try first.train(stopAfter: 3) == 3)
    #expect(first.finalMetrics == nil)
    let second = try w.trainer(w.config(model, name: "split"))
    #expect(try second.train(resume: true) == 6)

    let a = weights(whole), b = weights(second)
    #expect(a.keys.sorted() == b.keys.sorted())
    for (name, values) in a {
      let other = try #require(b[name])
      let differing = zip(values, other).filter { $0.bitPattern != $1.bitPattern }.count
      #expect(values.count == other.count && differing == 0, "parameter \(name): \(differing) of \(values.count) values differ after resume")
    }
    // Training moved the weights away from their initial values.
    let initial = weights(try w.trainer(w.config(model, name: "fresh")))
    #expect(a.contains { initial[$0.key] != $0.value })
    #expect(whole.bestLosses == second.bestLosses && whole.bestSteps == second.bestSteps && whole.bestSteps.allSatisfy { $0 != nil })
    // Both reloaded the best checkpoint and report the same final metrics; L0 = k for TopK.
    let m1 = try #require(whole.finalMetrics), m2 = try #require(second.finalMetrics)
    #expect(m1.l0 == m2.l0 && m1.ceIncrease == m2.ceIncrease && m1.compoundCEIncrease == m2.compoundCEIncrease)
    for key in model.saeKeys { #expect(abs(m1.l0[key]! - 4) < 1e-6) }
  }

  @Test func savedEntriesFollowBestLossAndGroupRules() {
    let losses: [Float] = [1, 2, 3]
    // Independent entries: ≤ best saves, worse and NaN do not.
    #expect(ConcurrentSAETrainer.improvedUnits(losses: losses, best: [1, 1, .infinity], units: [[0], [1], [2]])
            == [true, false, true])
    #expect(ConcurrentSAETrainer.improvedUnits(losses: [.nan, 1, 1], best: [.infinity, 2, 2], units: [[0], [1], [2]])
            == [false, true, true])
    // A shared-weight group is saved when its total is ≤ its best total (6 vs 7), even though member 1 got
    // worse (2 > 1); a total above the best (6 vs 5.5) is not saved, although members 0 and 2 improved.
    #expect(ConcurrentSAETrainer.improvedUnits(losses: losses, best: [2, 1, 4], units: [[0, 1, 2]]) == [true])
    #expect(ConcurrentSAETrainer.improvedUnits(losses: losses, best: [1.5, 1, 3], units: [[0, 1, 2]]) == [false])
    #expect(ConcurrentSAETrainer.improvedUnits(losses: losses, best: [1, 2, 3], units: [[0, 1, 2]]) == [true])
    #expect(ConcurrentSAETrainer.improvedUnits(losses: [1, .nan, 3], best: [2, 2, 4], units: [[0, 1, 2]]) == [false])
    #expect(ConcurrentSAETrainer.improvedUnits(losses: losses, best: [.infinity, .infinity, .infinity], units: [[0, 1, 2]]) == [true])
  }

  @Test func checkpointsAreWrittenAfterStepZeroForImprovedEntriesOnly() throws {
    let w = try SAETrainingWorkspace()
    let trainer = try w.trainer(w.config(TestSAEModels.topK))
    let dir = trainer.runDirectory
    let fm = FileManager.default
    let fields0 = try trainer.evaluate(step: 0)
    #expect(!fm.fileExists(atPath: dir.appendingPathComponent("sae.json").path), "nothing is saved at step 0")
    #expect(LogLine(fields0).text.contains("checkpoint False | ce_loss "))
    let fields1 = try trainer.evaluate(step: 4)
    #expect(LogLine(fields1).text.contains("checkpoint True True True True True | ce_loss "))
    for i in 0..<5 { #expect(fm.fileExists(atPath: dir.appendingPathComponent("sae.\(i).safetensors").path)) }
    #expect(fm.fileExists(atPath: dir.appendingPathComponent("model.safetensors").path))
    // Make entries 1 and 3 look worse than their best: only the others are rewritten.
    for i in 0..<5 { try fm.removeItem(at: dir.appendingPathComponent("sae.\(i).safetensors")) }
    trainer.bestLosses[1] = 0
    trainer.bestLosses[3] = 0
    _ = try trainer.evaluate(step: 8)
    #expect(trainer.lastSaved == [true, false, true, false, true])
    for i in 0..<5 {
      #expect(fm.fileExists(atPath: dir.appendingPathComponent("sae.\(i).safetensors").path) == (i % 2 == 0), "sae.\(i)")
    }
    #expect(trainer.bestLosses[1] == 0 && trainer.bestLosses[0] == trainer.lastValLosses[0])
  }

  /// Staircase variants whose members share weights, with the shared files a group writes (JumpReLU staircase
  /// members carry the shared tensors in their own files, as the reference writes them).
  static let sharingModels: [(SAEModelConfig, sharedFiles: [String])] = [
    (TestSAEModels.staircase, ["sae.shared.0.safetensors"]),
    (SAEModelConfig(name: "test-detach", gptConfig: "ascii_64x4", nFeatures: [32, 64, 96, 128, 160], saeVariant: .topKStaircaseDetach,
                    topK: [4, 4, 4, 4, 4], saeKeys: SAEModelConfig.actKeys(5)), ["sae.shared.0.safetensors"]),
    (SAEModelConfig(name: "test-jumprelu-staircase", gptConfig: "ascii_64x4", nFeatures: [32, 64, 96, 128, 160],
                    saeVariant: .jumpReLUStaircase, topK: nil, saeKeys: SAEModelConfig.actKeys(5)), []),
  ]

  @Test(arguments: [0, 1, 2])
  func staircaseGroupIsSavedWholeWhenItsTotalImproves(_ index: Int) throws {
    let (model, shared) = Self.sharingModels[index]
    let w = try SAETrainingWorkspace()
    let sparsity: [Float]? = model.saeVariant == .jumpReLUStaircase ? [Float](repeating: 1e-3, count: 5) : nil
    let trainer = try w.trainer(w.config(model, name: model.name, sparsity: sparsity))
    #expect(trainer.layout.saveUnits == [[0, 1, 2, 3, 4]])
    let dir = trainer.runDirectory
    let fm = FileManager.default
    let files = (0..<5).map { "sae.\($0).safetensors" } + shared + [CheckpointSteps.fileName]
    _ = try trainer.evaluate(step: 4)
    for f in files { #expect(fm.fileExists(atPath: dir.appendingPathComponent(f).path), "\(f)") }
    #expect(try CheckpointSteps.read(from: dir)?.steps == Dictionary(uniqueKeysWithValues: model.saeKeys.map { ($0.description, 4) }))
    for f in files { try fm.removeItem(at: dir.appendingPathComponent(f)) }
    // No training between evaluations, so the next evaluation sees the same losses L. Member 2's best is
    // below its loss (it got worse), member 0's above (it improved by more): the total fell, the group saves.
    let l = trainer.lastValLosses
    let delta = 0.25 * l[2]
    var best = l
    best[2] = l[2] - delta
    best[0] = l[0] + 2 * delta
    trainer.bestLosses = best
    let line = LogLine(try trainer.evaluate(step: 8)).text
    #expect(trainer.lastSaved == [true, true, true, true, true])
    #expect(line.contains("checkpoint True True True True True"))
    for f in files { #expect(fm.fileExists(atPath: dir.appendingPathComponent(f).path), "\(f)") }
    #expect(trainer.bestSteps == [8, 8, 8, 8, 8] && trainer.bestLosses == l)
    #expect(try CheckpointSteps.read(from: dir)?.steps["2_act"] == 8)
    // Staircase eval lines carry L0 per chunk of min(n_features) = 32 features for every SAE.
    #expect(line.contains(" | l0_0_act ") && line.contains(" | l0_4_act "))
    for f in files { try fm.removeItem(at: dir.appendingPathComponent(f)) }
    // Members 0, 1, 3 and 4 improved but member 2 rose by more: the total rose, nothing of the group is written.
    best = l
    for m in [0, 1, 3, 4] { best[m] = l[m] + 0.01 * delta }
    best[2] = l[2] - delta
    trainer.bestLosses = best
    _ = try trainer.evaluate(step: 12)
    #expect(trainer.lastSaved == [false, false, false, false, false])
    #expect(trainer.bestSteps == [8, 8, 8, 8, 8])
    for f in files { #expect(!fm.fileExists(atPath: dir.appendingPathComponent(f).path), "\(f)") }
  }

  /// FF-block staircase pairs share weights within a pair, whose two members form one loss entry: the pair is
  /// saved when that entry (the members' sum) is at its best, whichever member moved.
  @Test func staircaseBlockPairIsSavedByItsTotal() throws {
    let w = try SAETrainingWorkspace()
    let trainer = try w.trainer(w.config(TestSAEModels.staircaseBlock, name: "stairblock"))
    #expect(trainer.layout.saveUnits == [[0], [1], [2], [3]] && trainer.layout.entries[1] == [2, 3])
    _ = try trainer.evaluate(step: 4)
    let l = trainer.lastValLosses
    var best = l
    best[1] = l[1] * 0.5
    trainer.bestLosses = best
    _ = try trainer.evaluate(step: 8)
    #expect(trainer.lastSaved == [true, false, true, true])
    #expect(trainer.bestSteps == [8, 4, 8, 8])
    let steps = try #require(try CheckpointSteps.read(from: trainer.runDirectory)).steps
    #expect(steps["1_residmid"] == 4 && steps["1_residpost"] == 4 && steps["0_residmid"] == 8 && steps["3_residpost"] == 8)
  }

  @Test func pairedVariantsHaveOneLossPerPair() throws {
    let w = try SAETrainingWorkspace()
    for model in [TestSAEModels.jsae, TestSAEModels.staircaseBlock] {
      let sparsity: [Float]? = model.saeVariant == .jsae ? [0, 0, 0, 0] : nil
      let trainer = try w.trainer(w.config(model, name: model.name, sparsity: sparsity))
      #expect(trainer.layout.count == 4)
      #expect(trainer.layout.entries == [[0, 1], [2, 3], [4, 5], [6, 7]])
      #expect(trainer.layout.entryKeys.map(\.description) == ["0_\(model.saeKeys[0].hookPoint.rawValue)", "1_\(model.saeKeys[0].hookPoint.rawValue)",
                                                              "2_\(model.saeKeys[0].hookPoint.rawValue)", "3_\(model.saeKeys[0].hookPoint.rawValue)"])
      #expect(trainer.layout.saveUnits == [[0], [1], [2], [3]])
      let (losses, norm) = try trainer.trainStep(step: 1, learningRate: 1e-3)
      #expect(losses.count == 4 && norm.isFinite && norm > 0)
      // Each entry is the sum of its two SAEs' totals.
      var loader = try TokenDataLoader(directory: w.data, split: .train, batchSize: 1, sequenceLength: 128)
      let (x, _) = try loader.nextBatch()
      let (entries, _) = try withNoGrad { try trainer.lossVector(x, training: false) }
      let (_, outputs) = try withNoGrad { try trainer.forward(x) }
      for (e, members) in trainer.layout.entries.enumerated() {
        let sum = members.map { outputs[model.saeKeys[$0]]!.losses.total.value.scalar }.reduce(0, +)
        #expect(abs(entries[e].value.scalar - sum) <= 1e-5 * Swift.max(1, abs(sum)))
      }
      let line = LogLine(try trainer.evaluate(step: 1)).text
      let fields = line.components(separatedBy: " | ")
      let lossField = try #require(fields.first { $0.hasPrefix("loss ") })
      #expect(lossField.split(separator: " ").count == 5, "loss field \(lossField)")
      let ceField = try #require(fields.first { $0.hasPrefix("ce_loss_increases ") })
      #expect(ceField.split(separator: " ").count == 5, "one CE increase per pair: \(ceField)")
      let l0Field = try #require(fields.first { $0.hasPrefix("l0s ") })
      #expect(l0Field.split(separator: " ").count == 9, "one L0 per SAE: \(l0Field)")
      #expect(fields[1] == "checkpoint True True True True", "\(fields[1])")
    }
  }

  @Test func keySubsetsBelowTheLastBlockTrain() throws {
    let w = try SAETrainingWorkspace()
    let model = SAEModelConfig(name: "subset", gptConfig: "ascii_64x4", nFeatures: [32, 48], saeVariant: .topK, topK: [3, 3],
                               saeKeys: [SAEKey(layer: 1, hookPoint: .act), SAEKey(layer: 3, hookPoint: .act)])
    let trainer = try w.trainer(w.config(model))
    let (losses, norm) = try trainer.trainStep(step: 1, learningRate: 1e-3)
    #expect(losses.count == 2 && losses.allSatisfy { $0.isFinite && $0 > 0 } && norm > 0)
  }

  @Test func extraLossTermsAddPerEntryAndAreLogged() throws {
    let w = try SAETrainingWorkspace()
    let model = TestSAEModels.jsae
    let plain = try w.trainer(w.config(model, name: "plain", sparsity: [0, 0, 0, 0]))
    let term = BiasSumTerm(weight: 0.5)
    let withTerm = try w.trainer(w.config(model, name: "term", sparsity: [0, 0, 0, 0]), lossTerms: [term])
    // Shift every input SAE's b_dec so the term is nonzero.
    for t in [plain, withTerm] {
      for members in t.layout.entries {
        t.model.orderedSAEs[members[0]].namedParameters.first { $0.0 == "b_dec" }!.1.assign(Tensor(shape: [64], repeating: 0.25))
      }
    }
    var loader = try TokenDataLoader(directory: w.data, split: .train, batchSize: 1, sequenceLength: 128)
    let (x, _) = try loader.nextBatch()
    let base = try withNoGrad { try plain.lossVector(x, training: true).entries.map { $0.value.scalar } }
    let extra = try withNoGrad { try withTerm.lossVector(x, training: true).entries.map { $0.value.scalar } }
    for (a, b) in zip(base, extra) { #expect(abs(b - a - 0.5 * 0.25 * 64) < 1e-3, "\(a) → \(b)") }
    // The term's gradient reaches the parameters it uses.
    _ = try withTerm.trainStep(step: 1, learningRate: 1e-3)
    let line = LogLine(try withTerm.evaluate(step: 1)).text
    let last = try #require(line.components(separatedBy: " | ").last)
    #expect(last.hasPrefix("test_term ") && last.split(separator: " ").count == 5, "\(last)")
  }

  @Test func shortRunReducesReconstructionLoss() throws {
    let w = try SAETrainingWorkspace()
    var c = w.config(TestSAEModels.topK, maxSteps: 24)
    c.evalInterval = 24
    c.learningRate = 1e-2
    c.warmupSteps = 4
    let trainer = try w.trainer(c)
    try trainer.train()
    let lines = try w.evalLines("run")
    #expect(lines.count == 2)
    func losses(_ line: String) throws -> [Float] {
      let field = try #require(line.components(separatedBy: " | ").first { $0.hasPrefix("loss ") })
      return field.split(separator: " ").dropFirst().compactMap { Float($0) }
    }
    let before = try losses(lines[0]), after = try losses(lines[1])
    #expect(before.count == 5 && after.count == 5)
    for (b, a) in zip(before, after) { #expect(a < 0.8 * b, "val loss \(b) → \(a)") }
    #expect(lines[0].hasPrefix("type eval | step 0 | loss ") && lines[1].hasPrefix("type eval | step 24 | loss "))
    let train = try String(contentsOf: trainer.runDirectory.appendingPathComponent("train.log"), encoding: .utf8)
    #expect(train.hasPrefix("type train | step 2 | loss "))
    #expect(train.split(separator: "\n").count == 12)
  }

  @Test func badInputGivesOneLineErrors() throws {
    let w = try SAETrainingWorkspace()
    // A GPT whose architecture differs from the model's gpt_config.
    let other = w.root.appendingPathComponent("other-gpt")
    try GPTCheckpoint.save(try GPT(config: GPTConfig(blockSize: 128, vocabSize: 128, nLayer: 2, nHead: 4, nEmbd: 64)), to: other)
    do {
      _ = try ConcurrentSAETrainer(config: w.config(TestSAEModels.topK), loadFrom: other, checkpointsDirectory: w.checkpoints, echo: false)
      Issue.record("a mismatched GPT was accepted")
    } catch let e as TrainingError {
      #expect(e.description.contains("does not match") && !e.description.contains("\n"))
    }
    // Unimplemented trainers.
    var e2e = w.config(TestSAEModels.topK)
    e2e.trainer = .endToEnd
    #expect(throws: TrainingError.self) { try w.trainer(e2e) }
    // Missing GPT checkpoint.
    #expect(throws: (any Error).self) {
      try ConcurrentSAETrainer(config: w.config(TestSAEModels.topK), loadFrom: w.root.appendingPathComponent("none"),
                               checkpointsDirectory: w.checkpoints, echo: false)
    }
    // Resume without a state, and resume with a different GPT.
    #expect(throws: TrainingError.self) { try w.trainer(w.config(TestSAEModels.topK, name: "never")).train(resume: true) }
    let run = try w.trainer(w.config(TestSAEModels.topK, name: "r"))
    try run.train(stopAfter: 1)
    try GPTCheckpoint.save(try GPT(config: GPTConfig.preset("ascii_64x4")!, seed: 99), to: other)
    do {
      _ = try ConcurrentSAETrainer(config: w.config(TestSAEModels.topK, name: "r"), loadFrom: other,
                                   checkpointsDirectory: w.checkpoints, echo: false, lossTerms: []).train(resume: true)
      Issue.record("a resume with different GPT weights was accepted")
    } catch let e as TrainingError {
      #expect(e.description.contains("different GPT weights"))
    }
  }
}
