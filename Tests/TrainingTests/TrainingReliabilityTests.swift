import Autograd
import Foundation
import GPT
@testable import SAE
import Testing
@testable import Tensor
@testable import Training

/// Reliability of training in process: non-finite values stop a run naming the step and the last good
/// checkpoint and are never written; evaluations name the SAE or layer; full disks (an injected ENOSPC) leave
/// the previous files; run directories are locked; a stop request ends a run (or every run of a group) after
/// the current step with a resume state that continues bit-identically.
@Suite struct TrainingReliabilityTests {
  typealias Workspace = GPTTrainerTests.Workspace

  static func message(_ body: () throws -> Void) -> String? {
    do { try body() } catch { return "\(error)" }
    return nil
  }

  static func files(_ directory: URL) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
  }

  static func bits(_ named: [(String, Variable)]) -> [String: [UInt32]] {
    Dictionary(uniqueKeysWithValues: named.map { ($0.0, $0.1.value.scalars.map(\.bitPattern)) })
  }

  // MARK: non-finite values

  @Test func aNonFiniteStepNamesTheStepAndTheLastGoodCheckpoint() throws {
    let w = try Workspace()
    let config = w.config("run", maxSteps: 20, evalInterval: 2, learningRate: 1e-3)
    let first = try w.trainer(config)
    try first.train(stopAfter: 4)
    let bestStep = try #require(first.bestStep)
    let checkpoint = first.runDirectory.appendingPathComponent("model.safetensors")
    let before = try Data(contentsOf: checkpoint)

    let resumed = try w.trainer(config)
    #expect(try resumed.loadResumeState() == 4)
    resumed.model.blocks[1].mlp.cFc.weight.updateValue { $0.unsafeMutablePointer()[5] = .nan }
    let loss = try #require(Self.message { _ = try resumed.trainStep(step: 5, learningRate: 1e-3) })
    #expect(loss == "loss became nan at step 5 (first non-finite: parameter transformer.h.1.mlp.c_fc.weight); stopping: "
            + "the last good checkpoint is \(first.runDirectory.path) (step \(bestStep)); nothing non-finite was written")
    // The evaluation of a non-finite model stops too, and the checkpoint is not touched.
    let eval = try #require(Self.message { _ = try resumed.evaluate(step: 6) })
    #expect(eval.hasPrefix("val loss became nan at the evaluation after step 6 (first non-finite: parameter transformer.h.1.mlp.c_fc.weight); stopping: the last good checkpoint is"))
    #expect(try Data(contentsOf: checkpoint) == before)
    // The resume state refuses the NaN weights, keeping the state of step 4.
    let resume = try #require(Self.message { try resumed.saveResumeState(step: 6) })
    #expect(resume.hasPrefix("refusing to write a resume state with non-finite values into \(first.runDirectory.path)/resume: model.safetensors 'transformer.h.1.mlp.c_fc.weight' holds NaN"))
    #expect(!resume.contains("\n"))
    #expect(try GPTTrainer.ResumeStateProbe.step(first.runDirectory) == 4)
    #expect(!FileManager.default.fileExists(atPath: first.runDirectory.appendingPathComponent("resume.partial").path))

    // A run without any saved checkpoint says so.
    let fresh = try w.trainer(w.config("fresh", maxSteps: 5))
    fresh.model.wte.weight.updateValue { $0.unsafeMutablePointer()[0] = .infinity }
    let none = try #require(Self.message { try fresh.train() })
    #expect(none.hasPrefix("val loss became") || none.hasPrefix("loss became"))
    #expect(none.contains("stopping: no checkpoint had been saved in \(fresh.runDirectory.path) yet"), "\(none)")
  }

  @Test func theFirstNonFiniteGradientAndActivationAreNamed() throws {
    let model = try GPT(config: GPTTrainerTests.architecture, seed: 3)
    #expect(NonFinite.gradientNote(model.namedParameters) == "")
    model.blocks[0].attn.cProj.weight.grad = Tensor(shape: model.blocks[0].attn.cProj.weight.shape, repeating: .infinity)
    #expect(NonFinite.gradientNote(model.namedParameters) == " (first non-finite gradient: transformer.h.0.attn.c_proj.weight)")
    let tokens = IntTensor(shape: [1, 8], scalars: (0..<8).map { Int32($0 * 3) })
    #expect(NonFinite.locate(in: model, tokens: tokens) == nil)
    // Finite but huge weights: block 1's MLP overflows, which the hook points locate.
    model.blocks[1].mlp.cFc.weight.updateValue { t in
      let p = t.unsafeMutablePointer()
      for i in 0..<t.count { p[i] = i % 2 == 0 ? 3e38 : -3e38 }
    }
    #expect(NonFinite.locate(in: model, tokens: tokens) == "block 1's mlpout activation (1_mlpout)")
  }

  @Test func anSAEEvaluationNamesTheSAE() throws {
    let w = try SAETrainingWorkspace()
    let trainer = try w.trainer(w.config(TestSAEModels.topK, name: "nan"))
    _ = try trainer.evaluate(step: 0)
    let sae = try #require(trainer.model.saes[SAEKey(layer: 2, hookPoint: .act)])
    let decoder = try #require(sae.namedParameters.first { $0.0 == "W_dec" }?.1)
    decoder.updateValue { $0.unsafeMutablePointer()[0] = .nan }
    let error = try #require(Self.message { _ = try trainer.evaluate(step: 4) })
    #expect(error == "val loss of 2_act became nan at the evaluation after step 4; stopping: no checkpoint had been saved in "
            + "\(trainer.runDirectory.path) yet; nothing non-finite was written")
    #expect(!FileManager.default.fileExists(atPath: trainer.runDirectory.appendingPathComponent("sae.json").path))
    // The checkpoint writer refuses it as well, naming the SAE, before writing anything.
    let save = try #require(Self.message { try trainer.model.save(to: trainer.runDirectory) })
    #expect(save.hasPrefix("refusing to write a checkpoint with non-finite weights of SAE 2_act into \(trainer.runDirectory.path): 'W_dec' holds NaN at index 0"))
    #expect(!FileManager.default.fileExists(atPath: trainer.runDirectory.appendingPathComponent("sae.json").path))
    // Metrics name the first non-finite value by SAE.
    var m = SparsifiedMetrics(ceLoss: 1, l0: [:], saeLoss: [:], reconstruct: [:], streamL1: [:], ceIncrease: [:],
                              compoundCEIncrease: 0.5, chunkL0: [:])
    let keys = [SAEKey(layer: 0, hookPoint: .act), SAEKey(layer: 1, hookPoint: .act)]
    #expect(m.firstNonFinite(keys: keys) == nil)
    m.ceIncrease[keys[1]] = .infinity
    m.reconstruct[keys[0]] = 0.1
    #expect(m.firstNonFinite(keys: keys) == "SAE 1_act's CE-loss increase is inf")
    m.compoundCEIncrease = .nan
    m.ceLoss = .nan
    #expect(m.firstNonFinite(keys: keys) == "the clean CE loss (no SAE patched) is nan")
  }

  @Test func aGPTCheckpointWithNonFiniteWeightsIsNeverWritten() throws {
    let dir = try makeTemporaryDirectory("nonfinite")
    defer { try? FileManager.default.removeItem(at: dir) }
    let model = try GPT(config: GPTTrainerTests.architecture, seed: 4)
    try GPTCheckpoint.save(model, to: dir)
    let before = try Data(contentsOf: dir.appendingPathComponent("model.safetensors"))
    model.lnF.namedParameters[0].1.updateValue { $0.unsafeMutablePointer()[1] = -.infinity }
    let error = try #require(Self.message { try GPTCheckpoint.save(model, to: dir) })
    #expect(error == "refusing to write a GPT checkpoint with non-finite weights into \(dir.path): 'transformer.ln_f.weight' holds -inf at index 1; the previous checkpoint is kept")
    #expect(try Data(contentsOf: dir.appendingPathComponent("model.safetensors")) == before)
    #expect(Self.files(dir) == ["model.json", "model.safetensors"])
  }

  // MARK: full disk

  @Test func aFullDiskDuringTrainingKeepsThePreviousCheckpointAndResumeState() throws {
    let w = try Workspace()
    let config = w.config("full", maxSteps: 12, evalInterval: 2, learningRate: 1e-3)
    let first = try w.trainer(config)
    try first.train(stopAfter: 2)
    let run = first.runDirectory
    let kept = ["model.safetensors", "model.json", "resume/model.safetensors", "resume/optimizer.safetensors", "resume/state.json"]
    let before = try kept.map { try Data(contentsOf: run.appendingPathComponent($0)) }
    AtomicFile.injectedFailures.add(ENOSPC, under: run)
    defer { AtomicFile.injectedFailures.remove(run) }
    let second = try w.trainer(config)
    let error = try #require(Self.message { try second.train(resume: true) })
    #expect(!error.contains("\n"))
    #expect(error.contains("No space left on device"), "\(error)")
    #expect(try kept.map { try Data(contentsOf: run.appendingPathComponent($0)) } == before)
    #expect(!Self.files(run).contains { $0.contains(".tmp-") || $0 == "resume.partial" || $0 == ".lock" }, "\(Self.files(run))")
    #expect(!Self.files(run.appendingPathComponent("resume")).contains { $0.contains(".tmp-") })

    // The resume state on its own: a failed save keeps the previous state and removes the unfinished one.
    let store = ResumeStore(runDirectory: run)
    let stateError = try #require(Self.message {
      try store.save(files: ["model.safetensors": SafeTensorsFile(tensors: ["w": Tensor(shape: [2], scalars: [1, 2])])],
                     state: ["step": 99])
    })
    #expect(stateError.hasPrefix("cannot write the resume state of \(run.path) (the previous one is kept): cannot write \(run.path)/resume.partial/model.safetensors: writing failed (No space left on device)"))
    #expect(try GPTTrainer.ResumeStateProbe.step(run) == 2)
    #expect(!Self.files(run).contains("resume.partial"))
    AtomicFile.injectedFailures.remove(run)
    #expect(try second.train(resume: true) == 12)
  }

  // MARK: locks

  @Test func aLockedRunDirectoryIsRefusedAndAStaleLockTakenOver() throws {
    let w = try Workspace()
    let config = w.config("locked", maxSteps: 4, evalInterval: 2)
    let run = w.checkpoints.appendingPathComponent("locked")
    let holder = try DirectoryLock(directory: run, subject: "run directory \(run.path)")
    let error = try #require(Self.message { try w.trainer(config).train() })
    #expect(error == "run directory \(run.path) is in use by process \(getpid()) (lock file \(run.path)/.lock); wait for it to finish or stop it first")
    #expect(Self.files(run) == [".lock"], "the refused run wrote files")
    holder.release()
    #expect(!FileManager.default.fileExists(atPath: run.path), "the released claim left the directories it created")
    try w.trainer(config).train()
    #expect(!Self.files(run).contains(".lock"))

    // A lock file left by a dead process: taken over with a notice.
    let dead = Process()
    dead.executableURL = URL(fileURLWithPath: "/bin/true")
    try dead.run()
    dead.waitUntilExit()
    try Data("\(dead.processIdentifier)\n".utf8).write(to: run.appendingPathComponent(".lock"))
    var notices: [String] = []
    let taken = try DirectoryLock(directory: run, notice: { notices.append($0) })
    #expect(taken.tookOverFrom == dead.processIdentifier)
    #expect(notices == ["notice: taking over the lock of directory \(run.path) left by process \(dead.processIdentifier), which is no longer running (\(run.path)/.lock)"])
    #expect(try String(contentsOf: run.appendingPathComponent(".lock"), encoding: .utf8) == "\(getpid())\n")
    // A second claim in the same process is refused as well (each claim is its own open file).
    #expect(Self.message { _ = try DirectoryLock(directory: run) }?.contains("is in use by process \(getpid())") == true)
    taken.release()
    taken.release()
    #expect(!Self.files(run).contains(".lock"))
  }

  // MARK: stop requests

  @Test func aStopRequestEndsTheRunAfterTheStepAndResumesBitIdentically() throws {
    let w = try Workspace()
    let config = w.config("stop", maxSteps: 10, evalInterval: 4)
    let whole = try w.trainer(w.config("whole", maxSteps: 10, evalInterval: 4))
    try whole.train()

    let first = try w.trainer(config)
    do {
      let run = try first.prepareRun(resume: false, stopAfter: nil, milestones: [])
      run.stopRequest = { [unowned run] in run.step >= 5 ? SIGTERM : nil }
      var thrown: Error?
      do { _ = try run.runToEnd() } catch { thrown = error }
      let stop = try #require(thrown as? StopError)
      #expect(stop.exitCode == 143)
      #expect(stop.description == "stopped by SIGTERM: run stop after step 5 (resume state in \(first.runDirectory.path)/resume); continue with --resume")
      #expect(try GPTTrainer.ResumeStateProbe.step(first.runDirectory) == 5)
      // Stopping again at the same step writes nothing new.
      let state = first.runDirectory.appendingPathComponent("resume/state.json").path
      let stamp = try FileManager.default.attributesOfItem(atPath: state)[.modificationDate] as? Date
      try run.stop()
      #expect(try FileManager.default.attributesOfItem(atPath: state)[.modificationDate] as? Date == stamp)
      #expect(Self.files(first.runDirectory).contains(".lock"))
    }
    // The run is gone, and its claim with it.
    #expect(!Self.files(first.runDirectory).contains(".lock"))

    let second = try w.trainer(config)
    #expect(try second.train(resume: true) == 10)
    #expect(Self.bits(second.model.namedParameters) == Self.bits(whole.model.namedParameters))
    #expect(second.bestStep == whole.bestStep && second.bestValLoss == whole.bestValLoss)
  }

  @Test func aStopRequestEndsEveryRunOfAGroupAfterItsStep() throws {
    let w = try SAETrainingWorkspace()
    let gpt = try GPTCheckpoint.load(from: w.gptDirectory)
    func group(_ suffix: String) throws -> SAETrainingGroup {
      try SAETrainingGroup(trainers: [
        ConcurrentSAETrainer(config: w.config(TestSAEModels.topK, name: "a" + suffix, maxSteps: 6), gpt: gpt,
                             checkpointsDirectory: w.checkpoints, seed: 3, echo: false),
        ConcurrentSAETrainer(config: w.config(TestSAEModels.staircase, name: "b" + suffix, maxSteps: 8), gpt: gpt,
                             checkpointsDirectory: w.checkpoints, seed: 3, echo: false)])
    }
    let whole = try group("-whole")
    #expect(try whole.train() == [6, 8])

    let stopped = try group("")
    var rounds = 0
    stopped.stopRequest = {
      rounds += 1
      return rounds > 3 ? SIGINT : nil
    }
    var thrown: Error?
    do { _ = try stopped.train() } catch { thrown = error }
    let stop = try #require(thrown as? StopError)
    #expect(stop.exitCode == 130)
    #expect(stop.detail == "run a after step 3 (resume state in \(w.checkpoints.path)/a/resume), run b after step 3 (resume state in \(w.checkpoints.path)/b/resume); continue with --resume")
    for name in ["a", "b"] {
      #expect(try GPTTrainer.ResumeStateProbe.step(w.checkpoints.appendingPathComponent(name)) == 3)
      #expect(!Self.files(w.checkpoints.appendingPathComponent(name)).contains(".lock"))
    }
    let resumed = try group("")
    #expect(try resumed.train(resume: true) == [6, 8])
    for (a, b) in zip(resumed.trainers, whole.trainers) {
      #expect(Self.bits(a.model.namedParameters) == Self.bits(b.model.namedParameters), "\(a.config.name)")
      #expect(a.bestSteps == b.bestSteps)
    }
  }
}

extension GPTTrainer {
  /// Reads the step of a run's resume state (any trainer's: every state.json has `step`).
  enum ResumeStateProbe {
    static func step(_ runDirectory: URL) throws -> Int {
      struct Step: Decodable { var step: Int }
      return try ResumeStore(runDirectory: runDirectory).load(Step.self, files: []).0.step
    }
  }
}
