import Autograd
import Foundation
import GPT
import SAE
import Tensor
import Testing
@testable import Training

/// Small dense SAE models on ascii_64x4 for the end-to-end and regularization trainers.
enum TestDenseSAEModels {
  static let standard = SAEModelConfig(name: "test-standard", gptConfig: "ascii_64x4", nFeatures: [48, 48, 48, 48, 48],
                                       saeVariant: .standard, saeKeys: SAEModelConfig.actKeys(5))
  static let jumpReLU = SAEModelConfig(name: "test-jumprelu", gptConfig: "ascii_64x4", nFeatures: [48, 48, 48, 48, 48],
                                       saeVariant: .jumpReLU, saeKeys: SAEModelConfig.actKeys(5))
  /// Plain TopK SAEs on the FF-layer points of blocks 1 and 2 (per SAE, not paired).
  static let mlpTopK = SAEModelConfig(name: "test-mlp-topk", gptConfig: "ascii_64x4", nFeatures: [48, 48, 48, 48],
                                      saeVariant: .topK, topK: [4, 4, 4, 4],
                                      saeKeys: [SAEKey(layer: 1, hookPoint: .mlpin), SAEKey(layer: 1, hookPoint: .mlpout),
                                                SAEKey(layer: 2, hookPoint: .mlpin), SAEKey(layer: 2, hookPoint: .mlpout)])
}

/// Reference computations in Double for the trainer tests.
enum DirectLoss {
  /// KL(softmax(clean) ‖ softmax(patched)) summed over rows and classes, divided by the rows (PyTorch's
  /// `kl_div(..., reduction="batchmean")` on [rows, V]).
  static func klBatchMean(clean: Tensor, patched: Tensor) -> Double {
    let v = clean.shape.last!, rows = clean.count / v
    let c = clean.scalars, p = patched.scalars
    var total = 0.0
    for r in 0..<rows {
      let a = c[(r * v)..<((r + 1) * v)].map(Double.init), b = p[(r * v)..<((r + 1) * v)].map(Double.init)
      let ma = a.max()!, mb = b.max()!
      let la = ma + log(a.map { exp($0 - ma) }.reduce(0, +)), lb = mb + log(b.map { exp($0 - mb) }.reduce(0, +))
      for j in 0..<v {
        let logP = a[j] - la, logQ = b[j] - lb
        total += exp(logP) * (logP - logQ)
      }
    }
    return total / Double(rows)
  }

  /// The directional derivative of `loss` along a random direction of parameter `p` [analytic from `p.grad`
  /// after back-propagating `loss()`, and by central differences with step `h`]; `p` is restored.
  static func directionalDerivative(of loss: () throws -> Variable, along p: Variable, seed: UInt64, h: Float)
    throws -> (analytic: Double, finiteDifference: Double) {
    p.zeroGrad()
    try loss().backward()
    let grad = try #require(p.grad)
    var g = RandomGenerator(seed: seed)
    let direction = Tensor(shape: p.shape, scalars: (0..<p.value.count).map { _ in g.nextUniform() - 0.5 })
    let original = p.value
    func lossAt(_ s: Float) throws -> Double {
      p.assign(original + direction.scaled(s))
      return Double(try withNoGrad { try loss() }.value.scalar)
    }
    let fd = (try lossAt(h) - lossAt(-h)) / Double(2 * h)
    p.assign(original)
    return (zip(grad.scalars, direction.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }, fd)
  }

  /// Mean over tokens of Σ_c (a − b)².
  static func mse(_ a: Tensor, _ b: Tensor) -> Double {
    let c = a.shape.last!, x = a.scalars, y = b.scalars
    var total = 0.0
    for i in x.indices { total += Double(x[i] - y[i]) * Double(x[i] - y[i]) }
    return total / Double(x.count / c)
  }
}

@Suite(.serialized) struct E2ETrainerTests {
  func config(_ w: SAETrainingWorkspace, _ model: SAEModelConfig, name: String = "e2e", maxSteps: Int = 6,
              sparsity: [Float]? = nil, downstream: Float = 0.7, bandwidth: Float? = nil) -> SAETrainingConfig {
    var c = w.config(model, name: name, maxSteps: maxSteps,
                     sparsity: sparsity ?? [Float](repeating: 0.05, count: model.saeKeys.count))
    c.trainer = .endToEnd
    c.lossCoefficients.downstream = downstream
    c.lossCoefficients.bandwidth = bandwidth
    return c
  }

  func trainer(_ w: SAETrainingWorkspace, _ c: SAETrainingConfig, seed: UInt64 = 3) throws -> EndToEndSAETrainer {
    try EndToEndSAETrainer(config: c, loadFrom: w.gptDirectory, checkpointsDirectory: w.checkpoints, seed: seed, echo: false)
  }

  func batch(_ w: SAETrainingWorkspace) throws -> IntTensor {
    var loader = try TokenDataLoader(directory: w.data, split: .train, batchSize: 1, sequenceLength: 128)
    return try loader.nextBatch().0
  }

  func close(_ a: Double, _ b: Double, _ tolerance: Double = 2e-4) -> Bool {
    abs(a - b) <= tolerance * Swift.max(1e-3, abs(b))
  }

  @Test func softTargetKLMatchesBatchMeanAndItsGradient() throws {
    var g = RandomGenerator(seed: 4)
    let clean = Tensor(shape: [2, 3, 7], scalars: (0..<42).map { _ in g.nextUniform() * 6 - 3 })
    var zs = (0..<42).map { _ in g.nextUniform() * 6 - 3 }
    zs[5] = 40  // a dominant logit (large values must stay accurate)
    let z = Variable(Tensor(shape: [2, 3, 7], scalars: zs), requiresGrad: true)
    let kl = SoftTargetKL(targetLogits: clean)
    let loss = kl.loss(z)
    let expected = DirectLoss.klBatchMean(clean: clean, patched: z.value)
    #expect(close(Double(loss.value.scalar), expected, 1e-5), "\(loss.value.scalar) vs \(expected)")
    // Identical distributions have zero divergence.
    #expect(abs(kl.loss(Variable(clean)).value.scalar) < 1e-6)
    loss.backward()
    let grad = try #require(z.grad).scalars
    // Central differences in Double of the reference.
    for i in [0, 5, 13, 41] {
      var plus = zs, minus = zs
      plus[i] += 1e-3
      minus[i] -= 1e-3
      let fd = (DirectLoss.klBatchMean(clean: clean, patched: Tensor(shape: [2, 3, 7], scalars: plus))
        - DirectLoss.klBatchMean(clean: clean, patched: Tensor(shape: [2, 3, 7], scalars: minus))) / 2e-3
      #expect(abs(Double(grad[i]) - fd) < 1e-4, "d/dz[\(i)] \(grad[i]) vs \(fd)")
    }
  }

  @Test func lossEqualsKLPlusSparsityPlusDownstreamMSE() throws {
    let w = try SAETrainingWorkspace()
    let c = config(w, TestDenseSAEModels.standard, sparsity: [0.05, 0.1, 0.02, 0.3, 0.2], downstream: 0.7)
    let t = try trainer(w, c)
    let x = try batch(w)
    let losses = try withNoGrad { try t.lossVector(x).map { Double($0.value.scalar) } }
    #expect(losses.count == 5)
    // λ per SAE comes from the config.
    #expect(t.model.orderedSAEs.map(\.sparsityCoefficient) == [0.05, 0.1, 0.02, 0.3, 0.2])
    let gpt = t.model.gpt
    try withNoGrad {
      let clean = try gpt(x).value
      let acts = try t.model.activations(x, extra: [SAEKey(layer: 4, hookPoint: .act)])
      for (i, sae) in t.model.orderedSAEs.enumerated() {
        let out = sae(Variable(acts[sae.key]!))
        let patched = gpt.forward(residual: out.reconstruction, startAt: i).value
        let kl = DirectLoss.klBatchMean(clean: clean, patched: patched)
        // Later blocks' outputs except the last block's: SAE i compares i+1 … 3.
        let later = Array((i + 1)..<Swift.max(i + 1, 4))
        var downstream = 0.0
        for j in later {
          let y = gpt.forward(residual: out.reconstruction, startAt: i, stopAt: j).value
          downstream += 0.7 * DirectLoss.mse(y, acts[SAEKey(layer: j, hookPoint: .act)]!)
        }
        if !later.isEmpty { downstream /= Double(later.count) }
        #expect(t.downstreamKeys(of: sae.key).map(\.layer) == later)
        let sparsity = Double(out.losses.sparsity.value.scalar)
        #expect(sparsity > 0 && kl > 0)
        #expect(later.isEmpty || downstream > 0)
        let expected = kl + sparsity + downstream
        #expect(close(losses[i], expected), "SAE \(i): \(losses[i]) vs KL \(kl) + sparsity \(sparsity) + downstream \(downstream)")
      }
    }
  }

  @Test func ffLayerKeysPatchOnlyTheirPoint() throws {
    let w = try SAETrainingWorkspace()
    let t = try trainer(w, config(w, TestDenseSAEModels.mlpTopK, sparsity: [0, 0, 0, 0], downstream: 0.5))
    #expect(t.downstreamKeys(of: SAEKey(layer: 1, hookPoint: .mlpin)).map(\.layer) == [2, 3])
    #expect(t.downstreamKeys(of: SAEKey(layer: 2, hookPoint: .residpost)).isEmpty)
    #expect(t.downstreamKeys(of: SAEKey(layer: 0, hookPoint: .residpost)).map(\.layer) == [2, 3])
    let x = try batch(w)
    let losses = try withNoGrad { try t.lossVector(x).map { Double($0.value.scalar) } }
    let gpt = t.model.gpt
    try withNoGrad {
      let clean = try gpt(x).value
      let extra = [1, 2].flatMap { [SAEKey(layer: $0, hookPoint: .residmid), SAEKey(layer: $0 + 1, hookPoint: .act)] }
      let acts = try t.model.activations(x, extra: extra)
      for (i, sae) in t.model.orderedSAEs.enumerated() {
        let layer = sae.key.layer
        let out = sae(Variable(acts[sae.key]!))
        // resid_post = clean resid_mid + mlp(x̂) (mlpin) or + x̂ (mlpout), then the later blocks.
        let block = gpt.blocks[layer]
        let mlpOut = sae.key.hookPoint == .mlpin ? block.mlp(out.reconstruction) : out.reconstruction
        let post = Variable(acts[SAEKey(layer: layer, hookPoint: .residmid)]!) + mlpOut
        var downstream = 0.0
        let later = Array((layer + 1)...3)
        for j in later {
          let y = gpt.forward(residual: post, startAt: layer + 1, stopAt: j).value
          downstream += 0.5 * DirectLoss.mse(y, acts[SAEKey(layer: j, hookPoint: .act)]!)
        }
        downstream /= Double(later.count)
        let kl = DirectLoss.klBatchMean(clean: clean, patched: gpt.forward(residual: post, startAt: layer + 1).value)
        #expect(close(losses[i], kl + downstream), "\(sae.key): \(losses[i]) vs \(kl) + \(downstream)")
      }
    }
  }

  @Test func gradientsFlowThroughTheFrozenGPTIntoTheSAEsOnly() throws {
    let w = try SAETrainingWorkspace()
    // No sparsity and no downstream term: every SAE gradient comes through the GPT's later blocks and head.
    let t = try trainer(w, config(w, TestDenseSAEModels.standard, sparsity: [0, 0, 0, 0, 0], downstream: 0))
    let (losses, norm) = try t.trainStep(step: 1, learningRate: 0)
    #expect(losses.count == 5 && losses.allSatisfy { $0 > 0 && $0.isFinite } && norm > 0)
    for (name, p) in t.model.namedParameters {
      let g = try #require(p.grad, "no gradient for \(name)")
      #expect(g.scalars.contains { $0 != 0 }, "zero gradient for \(name)")
    }
    for (name, p) in t.model.gpt.namedParameters {
      #expect(!p.requiresGrad && p.grad == nil, "GPT parameter \(name) got a gradient")
    }
  }

  @Test func gradientMatchesFiniteDifferences() throws {
    let w = try SAETrainingWorkspace()
    let t = try trainer(w, config(w, TestDenseSAEModels.standard, sparsity: [0.05, 0.1, 0.02, 0.3, 0.2], downstream: 0.7))
    let x = try batch(w)
    let clean = try t.cleanBatch(x)
    for index in [0, 2] {
      let sae = t.model.orderedSAEs[index]
      for name in ["b_dec", "b_enc"] {
        let p = try #require(sae.namedParameters.first { $0.0 == name }?.1)
        // Small steps: the ReLU kinks bend larger ones; the Float loss limits the accuracy.
        let (analytic, fd) = try DirectLoss.directionalDerivative(of: { try t.loss(of: sae, clean: clean) }, along: p, seed: 8, h: 1e-3)
        #expect(abs(analytic - fd) <= 0.05 * abs(fd) + 5e-4, "SAE \(index) \(name): ∇·d \(analytic) vs finite difference \(fd)")
      }
    }
  }

  @Test(arguments: [TestDenseSAEModels.standard, TestDenseSAEModels.jumpReLU])
  func resumedRunIsBitIdenticalToUninterruptedRun(_ model: SAEModelConfig) throws {
    let w = try SAETrainingWorkspace()
    let bandwidth: Float? = model.saeVariant == .jumpReLU ? 0.25 : nil
    let whole = try trainer(w, config(w, model, name: "whole", bandwidth: bandwidth))
    #expect(try whole.train() == 6)
    let first = try trainer(w, config(w, model, name: "split", bandwidth: bandwidth))
    #expect(try first.train(stopAfter: 3) == 3)
    let second = try trainer(w, config(w, model, name: "split", bandwidth: bandwidth))
    #expect(try second.train(resume: true) == 6)
    let a = Dictionary(uniqueKeysWithValues: whole.model.namedParameters.map { ($0.0, $0.1.value.scalars) })
    let b = Dictionary(uniqueKeysWithValues: second.model.namedParameters.map { ($0.0, $0.1.value.scalars) })
    #expect(a.keys.sorted() == b.keys.sorted())
    for (name, values) in a {
      let other = try #require(b[name])
      let differing = zip(values, other).filter { $0.bitPattern != $1.bitPattern }.count
      #expect(values.count == other.count && differing == 0, "parameter \(name): \(differing) of \(values.count) values differ after resume")
    }
    #expect(whole.bestLosses == second.bestLosses)
    let m1 = try #require(whole.finalMetrics), m2 = try #require(second.finalMetrics)
    #expect(m1.l0 == m2.l0 && m1.ceIncrease == m2.ceIncrease && m1.compoundCEIncrease == m2.compoundCEIncrease)
    // The bandwidth from the config (the SAEs' default is 0.1) reached the JumpReLU SAEs.
    for case let sae as JumpReLUSAE in whole.model.orderedSAEs { #expect(sae.bandwidth == 0.25) }
  }

  @Test func shortRunLowersTheLossAndLogsTheReferenceFormat() throws {
    let w = try SAETrainingWorkspace()
    var c = config(w, TestDenseSAEModels.standard, maxSteps: 24, sparsity: [0.01, 0.01, 0.01, 0.01, 0.01], downstream: 0.5)
    c.evalInterval = 24
    c.learningRate = 1e-2
    c.warmupSteps = 4
    let t = try trainer(w, c)
    try t.train()
    let lines = try w.evalLines("e2e")
    #expect(lines.count == 2)
    func losses(_ line: String) throws -> [Float] {
      let field = try #require(line.components(separatedBy: " | ").first { $0.hasPrefix("loss ") })
      return field.split(separator: " ").dropFirst().compactMap { Float($0) }
    }
    let before = try losses(lines[0]), after = try losses(lines[1])
    #expect(before.count == 5 && after.count == 5)
    for (b, a) in zip(before, after) { #expect(a < 0.7 * b, "val e2e loss \(b) → \(a)") }
    let fields = lines[1].components(separatedBy: " | ").map { $0.split(separator: " ").first.map(String.init) ?? "" }
    #expect(fields == ["type", "step", "loss", "checkpoint", "ce_loss", "sae_losses", "ce_loss_increases",
                       "compound_ce_loss_increase", "l0s", "stream_l1s"], "\(lines[1])")
    #expect(lines[1].contains("checkpoint True True True True True"))
    let debug = try String(contentsOf: t.runDirectory.appendingPathComponent("debug.log"), encoding: .utf8)
    #expect(debug.contains("'downstream': 0.5") && debug.contains("| trainer end_to_end |"))
    // The saved checkpoint loads back with every SAE.
    let reloaded = try SparsifiedGPT.load(from: t.runDirectory)
    #expect(reloaded.keys == c.saeModel!.saeKeys)
    #expect(t.finalMetrics != nil)
  }

  @Test func badInputGivesOneLineErrors() throws {
    let w = try SAETrainingWorkspace()
    var c = config(w, TestDenseSAEModels.standard)
    c.lossCoefficients.downstream = nil
    do {
      _ = try trainer(w, c)
      Issue.record("an e2e config without a downstream coefficient was accepted")
    } catch let e as TrainingError {
      #expect(e.description.contains("downstream") && !e.description.contains("\n"))
    }
    var paired = w.config(TestSAEModels.jsae, sparsity: [0, 0, 0, 0])
    paired.trainer = .endToEnd
    paired.lossCoefficients.downstream = 1
    #expect(throws: TrainingError.self) { try trainer(w, paired) }
    // A config naming another trainer.
    #expect(throws: TrainingError.self) {
      try EndToEndSAETrainer(config: w.config(TestSAEModels.topK), loadFrom: w.gptDirectory, checkpointsDirectory: w.checkpoints, echo: false)
    }
    // The factory builds the trainer the config names; only the regularization trainer starts without a GPT.
    let made = try SAETrainer.make(config: config(w, TestDenseSAEModels.standard), loadFrom: w.gptDirectory,
                                   checkpointsDirectory: w.checkpoints, echo: false)
    #expect(made is EndToEndSAETrainer)
    #expect(throws: TrainingError.self) {
      try SAETrainer.make(config: config(w, TestDenseSAEModels.standard), loadFrom: nil, checkpointsDirectory: w.checkpoints, echo: false)
    }
    // Resuming a run with another trainer.
    let concurrent = try w.trainer(w.config(TestSAEModels.topK, name: "switch"))
    try concurrent.train(stopAfter: 1)
    var e2e = config(w, TestSAEModels.topK, name: "switch", sparsity: [0, 0, 0, 0, 0])
    e2e.lossCoefficients.sparsity = nil
    do {
      try trainer(w, e2e).train(resume: true)
      Issue.record("a concurrent run was resumed by the e2e trainer")
    } catch let e as TrainingError {
      #expect(e.description.contains("concurrent trainer"), "\(e.description)")
    }
  }
}
