import Autograd
import Foundation
import GPT
import SAE
import Tensor
import Testing
@testable import Training

@Suite(.serialized) struct SAETrainingGroupTests {
  func parameters(_ trainer: SAETrainer) -> [String: [UInt32]] {
    Dictionary(uniqueKeysWithValues: trainer.model.namedParameters.map { ($0.0, $0.1.value.scalars.map(\.bitPattern)) })
  }

  func files(_ directory: URL) throws -> [String: Data] {
    var out: [String: Data] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) where CheckpointFiles.isCheckpointFile(name) {
      out[name] = try Data(contentsOf: directory.appendingPathComponent(name))
    }
    return out
  }

  @Test func groupedRunsEqualSeparateRunsBitForBit() throws {
    let w = try SAETrainingWorkspace()
    var topK = w.config(TestSAEModels.topK, name: "topk", maxSteps: 8)
    topK.gradientAccumulationSteps = 2
    var staircase = w.config(TestSAEModels.staircase, name: "staircase", maxSteps: 6)
    staircase.gradientAccumulationSteps = 2
    let separate = [try w.trainer(topK), try w.trainer(staircase)]
    try separate[0].train(milestones: [4])
    try separate[1].train(milestones: [4])

    let groupDir = w.root.appendingPathComponent("grouped")
    let gpt = try GPTCheckpoint.load(from: w.gptDirectory)
    let grouped = try [topK, staircase].map {
      try ConcurrentSAETrainer(config: $0, gpt: gpt, checkpointsDirectory: groupDir, seed: 3, echo: false, lossTerms: [])
    }
    let group = try SAETrainingGroup(trainers: grouped)
    #expect(try group.train(milestones: [4, 8]) == [8, 6])
    // 8 steps of 2 micro-batches: the GPT ran once per micro-batch, the shorter run reused 6 × 2 of them.
    #expect(group.shared.misses == 16 && group.shared.hits == 12)

    for (a, b) in zip(separate, grouped) {
      #expect(parameters(a) == parameters(b), "run \(a.config.name): parameters differ")
      #expect(a.bestLosses == b.bestLosses && a.bestSteps == b.bestSteps)
      #expect(try files(a.runDirectory) == files(b.runDirectory), "run \(a.config.name): checkpoint files differ")
      let m1 = try #require(a.finalMetrics), m2 = try #require(b.finalMetrics)
      #expect(m1.l0 == m2.l0 && m1.ceIncrease == m2.ceIncrease)
      let evalA = try String(contentsOf: a.runDirectory.appendingPathComponent("eval.log"), encoding: .utf8)
      let evalB = try String(contentsOf: b.runDirectory.appendingPathComponent("eval.log"), encoding: .utf8)
      #expect(evalA == evalB)
      // Milestones: step 4 for both (the separate runs kept the same one); step 8 only within the longer run.
      let keptA = CheckpointFiles.milestoneDirectory(a.runDirectory, step: 4)
      let keptB = CheckpointFiles.milestoneDirectory(b.runDirectory, step: 4)
      #expect(try files(keptA) == files(keptB) && !(try files(keptB)).isEmpty)
      #expect(try CheckpointSteps.read(from: keptB)?.steps.values.allSatisfy { $0 == 4 } == true)
    }
    let fm = FileManager.default
    #expect(fm.fileExists(atPath: CheckpointFiles.milestoneDirectory(grouped[0].runDirectory, step: 8).path))
    #expect(!fm.fileExists(atPath: CheckpointFiles.milestoneDirectory(grouped[1].runDirectory, step: 8).path))
  }

  @Test func interruptedGroupResumesAndSkipsFinishedRuns() throws {
    let w = try SAETrainingWorkspace()
    let long = w.config(TestSAEModels.topK, name: "long", maxSteps: 8)
    let short = w.config(TestSAEModels.staircase, name: "short", maxSteps: 4)
    let whole = [try w.trainer(w.config(TestSAEModels.topK, name: "whole", maxSteps: 8))]
    try whole[0].train()
    let gpt = try GPTCheckpoint.load(from: w.gptDirectory)
    func make() throws -> SAETrainingGroup {
      try SAETrainingGroup(trainers: [long, short].map {
        try ConcurrentSAETrainer(config: $0, gpt: gpt, checkpointsDirectory: w.checkpoints, seed: 3, echo: false, lossTerms: [])
      })
    }
    #expect(try make().train(stopAfter: 5) == [5, 4])
    let resumed = try make()
    #expect(try resumed.train(resume: true) == [8, 4])
    #expect(parameters(whole[0]) == parameters(resumed.trainers[0]))
    // A run without a resume state joins a resumed group from step 1.
    let late = w.config(TestSAEModels.topK, name: "late", maxSteps: 8)
    let joined = try SAETrainingGroup(trainers: [long, late].map {
      try ConcurrentSAETrainer(config: $0, gpt: gpt, checkpointsDirectory: w.checkpoints, seed: 3, echo: false, lossTerms: [])
    })
    #expect(try joined.train(resume: true) == [8, 8])
    #expect(parameters(whole[0]) == parameters(joined.trainers[1]))
  }

  @Test func mismatchedRunsAreRefusedWithOneLineErrors() throws {
    let w = try SAETrainingWorkspace()
    let gpt = try GPTCheckpoint.load(from: w.gptDirectory)
    func trainer(_ c: SAETrainingConfig, gpt: GPT) throws -> ConcurrentSAETrainer {
      try ConcurrentSAETrainer(config: c, gpt: gpt, checkpointsDirectory: w.checkpoints, seed: 3, echo: false, lossTerms: [])
    }
    var wide = w.config(TestSAEModels.staircase, name: "b")
    wide.batchSize = 2
    for (others, expected) in [
      ([try trainer(wide, gpt: gpt)], "batch sizes differ"),
      ([try trainer(w.config(TestSAEModels.staircase, name: "a"), gpt: gpt)], "same directory"),
      ([try trainer(w.config(TestSAEModels.staircase, name: "c"), gpt: try GPT(config: GPTConfig.preset("ascii_64x4")!, seed: 77))],
       "GPT weights differ"),
    ] {
      do {
        _ = try SAETrainingGroup(trainers: [try trainer(w.config(TestSAEModels.topK, name: "a"), gpt: gpt)] + others)
        Issue.record("a mismatched group was accepted (\(expected))")
      } catch let e as TrainingError {
        #expect(e.description.contains(expected) && !e.description.contains("\n"), "\(e.description)")
      }
    }
    #expect(throws: TrainingError.self) { try SAETrainingGroup(trainers: []) }
  }

  @Test func milestonesMustBeEvaluationSteps() throws {
    let w = try SAETrainingWorkspace()
    let trainer = try w.trainer(w.config(TestSAEModels.topK, maxSteps: 6))
    do {
      try trainer.train(milestones: [3])
      Issue.record("milestone 3 (not an evaluation step) was accepted")
    } catch let e as TrainingError {
      #expect(e.description.contains("milestone step 3"))
    }
    // The last step is an evaluation step even when it is not a multiple of the interval.
    try w.trainer(w.config(TestSAEModels.topK, name: "ok", maxSteps: 6)).train(milestones: [4, 6])
    let run = w.checkpoints.appendingPathComponent("ok")
    for step in [4, 6] {
      #expect(FileManager.default.fileExists(atPath: CheckpointFiles.milestoneDirectory(run, step: step).appendingPathComponent("sae.json").path))
    }
  }
}
