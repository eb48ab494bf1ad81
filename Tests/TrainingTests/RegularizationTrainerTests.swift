import Autograd
import Foundation
import GPT
import SAE
import Tensor
import Testing
@testable import Training

@Suite(.serialized) struct RegularizationTrainerTests {
  func config(_ w: SAETrainingWorkspace, _ model: SAEModelConfig = TestDenseSAEModels.standard, name: String = "reg",
              maxSteps: Int = 6, sparsity: [Float] = [0.02, 0.035, 0.085, 0.07, 0.075], regularization: Float = 3) -> SAETrainingConfig {
    var c = w.config(model, name: name, maxSteps: maxSteps, sparsity: sparsity)
    c.trainer = .regularization
    c.lossCoefficients.regularization = regularization
    return c
  }

  func trainer(_ w: SAETrainingWorkspace, _ c: SAETrainingConfig, seed: UInt64 = 3) throws -> RegularizationSAETrainer {
    try RegularizationSAETrainer(config: c, loadFrom: w.gptDirectory, checkpointsDirectory: w.checkpoints, seed: seed, echo: false)
  }

  func batch(_ w: SAETrainingWorkspace) throws -> (IntTensor, IntTensor) {
    var loader = try TokenDataLoader(directory: w.data, split: .train, batchSize: 1, sequenceLength: 128)
    return try loader.nextBatch()
  }

  @Test func lossIsCrossEntropyPlusNormalisedSAELosses() throws {
    let w = try SAETrainingWorkspace()
    let t = try trainer(w, config(w))
    #expect(t.layout.count == 1 && t.layout.saveUnits == [[0]] && t.layout.entries == [[0, 1, 2, 3, 4]])
    let (x, y) = try batch(w)
    let loss = Double(try withNoGrad { try t.loss(x, targets: y) }.value.scalar)
    let expected = try withNoGrad { () -> Double in
      let ce = Double(try t.model.gpt.loss(x, targets: y).value.scalar)
      let acts = try t.model.activations(x)
      var total = 0.0
      for sae in t.model.orderedSAEs {
        let input = acts[sae.key]!
        let out = sae(Variable(input))
        let c = input.shape.last!, rows = input.count / c, v = input.scalars
        var norm = 0.0
        for r in 0..<rows { norm += sqrt((0..<c).reduce(0.0) { $0 + Double(v[r * c + $1]) * Double(v[r * c + $1]) }) }
        norm /= Double(rows)
        let reconstruct = DirectLoss.mse(out.reconstruction.value, input)
        let sparsity = Double(out.losses.sparsity.value.scalar), aux = Double(out.losses.aux.value.scalar)
        #expect(sparsity > 0)
        total += 3 * reconstruct / norm + sparsity + 3 * aux / norm
      }
      return ce + total / 5
    }
    #expect(abs(loss - expected) <= 1e-5 * abs(expected), "\(loss) vs \(expected)")
  }

  @Test func gradientsReachTheGPTAndTheSAEs() throws {
    let w = try SAETrainingWorkspace()
    let t = try trainer(w, config(w))
    let (losses, norm) = try t.trainStep(step: 1, learningRate: 0)
    #expect(losses.count == 1 && losses[0].isFinite && norm > 0)
    for (name, p) in t.model.namedParameters + t.model.gpt.namedParameters {
      let g = try #require(p.grad, "no gradient for \(name)")
      #expect(g.scalars.contains { $0 != 0 }, "zero gradient for \(name)")
    }
    // The SAE terms train the GPT too: its gradient differs from the plain cross-entropy's.
    let gpt = t.model.gpt
    let (x, y) = try batch(w)
    gpt.zeroGrad()
    try t.loss(x, targets: y).backward()
    let full = gpt.parameters.map { $0.grad!.scalars }
    gpt.zeroGrad()
    try gpt.loss(x, targets: y).backward()
    let plain = gpt.parameters.map { $0.grad!.scalars }
    let blockParameters = gpt.namedParameters.indices.filter { gpt.namedParameters[$0].0.hasPrefix("transformer.h.0.") }
    #expect(blockParameters.contains { full[$0] != plain[$0] }, "the SAE terms do not reach block 0")
    // Directional derivative along a GPT parameter against central differences.
    let p = try #require(gpt.namedParameters.first { $0.0 == "transformer.h.1.mlp.c_fc.bias" }?.1)
    let (analytic, fd) = try DirectLoss.directionalDerivative(of: { try t.loss(x, targets: y) }, along: p, seed: 9, h: 2e-3)
    #expect(abs(analytic - fd) <= 0.05 * abs(fd) + 5e-4, "∇·d \(analytic) vs finite difference \(fd)")
  }

  @Test func resumedRunIsBitIdenticalToUninterruptedRun() throws {
    let w = try SAETrainingWorkspace()
    let whole = try trainer(w, config(w, name: "whole"))
    #expect(try whole.train() == 6)
    let first = try trainer(w, config(w, name: "split"))
    #expect(try first.train(stopAfter: 3) == 3)
    #expect(first.finalMetrics == nil)
    let second = try trainer(w, config(w, name: "split"))
    #expect(try second.train(resume: true) == 6)
    func weights(_ t: RegularizationSAETrainer) -> [String: [Float]] {
      Dictionary(uniqueKeysWithValues: t.trainedParameters.map { ($0.0, $0.1.value.scalars) })
    }
    let a = weights(whole), b = weights(second)
    #expect(a.keys.sorted() == b.keys.sorted())
    #expect(a.keys.contains("gpt.transformer.h.0.attn.c_attn.weight") && a.keys.contains("0_act.W_dec"))
    for (name, values) in a {
      let other = try #require(b[name])
      let differing = zip(values, other).filter { $0.bitPattern != $1.bitPattern }.count
      #expect(values.count == other.count && differing == 0, "parameter \(name): \(differing) of \(values.count) values differ after resume")
    }
    #expect(whole.bestLosses == second.bestLosses)
    let m1 = try #require(whole.finalMetrics), m2 = try #require(second.finalMetrics)
    #expect(m1.ceLoss == m2.ceLoss && m1.l0 == m2.l0 && m1.compoundCEIncrease == m2.compoundCEIncrease)
  }

  @Test func shortRunLowersTheLossAndSavesTheTrainedGPT() throws {
    let w = try SAETrainingWorkspace()
    var c = config(w, maxSteps: 24)
    c.evalInterval = 24
    c.learningRate = 3e-3  // 1e-2 makes the co-trained activations (and SAE losses) grow at first
    c.warmupSteps = 4
    let t = try trainer(w, c)
    let initialGPT = try GPTCheckpoint.load(from: w.gptDirectory)
    try t.train()
    let lines = try w.evalLines("reg")
    #expect(lines.count == 2)
    func loss(_ line: String) throws -> Float {
      let field = try #require(line.components(separatedBy: " | ").first { $0.hasPrefix("loss ") })
      let values = field.split(separator: " ").dropFirst().compactMap { Float($0) }
      try #require(values.count == 1, "one scalar loss: \(field)")
      return values[0]
    }
    let before = try loss(lines[0]), after = try loss(lines[1])
    #expect(after < 0.85 * before, "val loss \(before) → \(after)")
    let fields = lines[1].components(separatedBy: " | ")
    #expect(fields[3] == "checkpoint True", "\(lines[1])")
    #expect(fields.map { $0.split(separator: " ").first.map(String.init) ?? "" }
            == ["type", "step", "loss", "checkpoint", "ce_loss", "sae_losses", "ce_loss_increases",
                "compound_ce_loss_increase", "l0s", "stream_l1s"])
    let train = try String(contentsOf: t.runDirectory.appendingPathComponent("train.log"), encoding: .utf8)
    let firstTrain = try #require(train.split(separator: "\n").first)
    #expect(firstTrain.hasPrefix("type train | step 2 | loss ") && firstTrain.components(separatedBy: " | ")[2].split(separator: " ").count == 2)
    // The checkpoint holds the co-trained GPT (different from the starting one) and every SAE.
    let saved = try SparsifiedGPT.load(from: t.runDirectory)
    #expect(saved.keys == c.saeModel!.saeKeys)
    let start = Dictionary(uniqueKeysWithValues: initialGPT.namedParameters.map { ($0.0, $0.1.value) })
    #expect(saved.gpt.namedParameters.contains { start[$0.0]! != $0.1.value }, "the saved GPT was not trained")
    let debug = try String(contentsOf: t.runDirectory.appendingPathComponent("debug.log"), encoding: .utf8)
    #expect(debug.contains("weight_decay 0.1") && debug.contains("'regularization': 3.0") && debug.contains("| trainer regularization |"))
    // The final report is the reloaded checkpoint's.
    let m = try #require(t.finalMetrics)
    let loggedCE = try #require(Float(fields[4].split(separator: " ")[1]))
    #expect(m.ceLoss.isFinite && abs(m.ceLoss - loggedCE) < 1e-3, "final CE \(m.ceLoss) vs logged \(loggedCE)")
  }

  @Test func optimizerDecaysOnlyGPTMatrices() throws {
    let w = try SAETrainingWorkspace()
    let t = try trainer(w, config(w))
    let decayed = t.optimizer.groups.filter { $0.weightDecay > 0 }
    #expect(decayed.count == 1 && decayed[0].weightDecay == 0.1)
    let gptMatrices = Set(t.model.gpt.parameters.filter { $0.rank >= 2 }.map { ObjectIdentifier($0) })
    #expect(Set(decayed[0].parameters.map { ObjectIdentifier($0) }) == gptMatrices)
    #expect(t.optimizer.parameters.count == t.model.gpt.parameters.count + t.model.namedParameters.count)
  }

  @Test func startsFromAFreshGPTWithoutACheckpoint() throws {
    let w = try SAETrainingWorkspace()
    let made = try SAETrainer.make(config: config(w, name: "fresh", maxSteps: 2), loadFrom: nil,
                                   checkpointsDirectory: w.checkpoints, seed: 7, echo: false)
    #expect(made is RegularizationSAETrainer && made.trainsGPT)
    let expected = try GPT(config: GPTConfig.preset("ascii_64x4")!, seed: 7)
    #expect(made.model.gpt.namedParameters.map { $0.1.value } == expected.namedParameters.map { $0.1.value })
    #expect(try made.train() == 2)
    var missing = config(w)
    missing.lossCoefficients.regularization = nil
    do {
      _ = try trainer(w, missing)
      Issue.record("a regularization config without λ was accepted")
    } catch let e as TrainingError {
      #expect(e.description.contains("regularization") && !e.description.contains("\n"))
    }
  }
}
