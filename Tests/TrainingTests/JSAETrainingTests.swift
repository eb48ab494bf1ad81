import Autograd
import Foundation
import GPT
import SAE
import Tensor
import Testing
@testable import Training

/// Small JSAE models on ascii_64x4 (FF-layer and FF-block pairs, 64 features, k 4).
enum JSAETestModels {
  static let layer = TestSAEModels.jsae
  static let block = SAEModelConfig(name: "test-jsae-block", gptConfig: "ascii_64x4", nFeatures: [Int](repeating: 64, count: 8),
                                    saeVariant: .jsaeBlock, topK: [Int](repeating: 4, count: 8), saeKeys: SAEModelConfig.mlpBlockKeys(4))
}

@Suite(.serialized) struct JSAETrainingTests {
  func batch(_ w: SAETrainingWorkspace) throws -> IntTensor {
    var loader = try TokenDataLoader(directory: w.data, split: .train, batchSize: 1, sequenceLength: 128)
    return try loader.nextBatch().0
  }

  /// J of every pair of `trainer`'s model on x, straight from `JacobianSparsity`.
  func directJacobians(_ trainer: ConcurrentSAETrainer, _ x: IntTensor) throws -> [Float] {
    try withNoGrad {
      let (acts, outputs) = try trainer.forward(x)
      return trainer.layout.entries.map { members in
        let inKey = trainer.model.keys[members[0]], outKey = trainer.model.keys[members[1]]
        return JacobianSparsity.pairTerm(trainer.model, layer: inKey.layer, cleanInput: acts[inKey]!,
                                         inIndices: outputs[inKey]!.topKIndices!, outIndices: outputs[outKey]!.topKIndices!).value.scalar
      }
    }
  }

  func field(_ line: String, _ name: String) -> [Float]? {
    line.components(separatedBy: " | ").first { $0.hasPrefix(name + " ") }
      .map { $0.split(separator: " ").dropFirst().compactMap { Float($0) } }
  }

  @Test(arguments: [JSAETestModels.layer, JSAETestModels.block])
  func lossVectorAddsLambdaTimesJacobianPerPair(_ model: SAEModelConfig) throws {
    let w = try SAETrainingWorkspace()
    let lambdas: [Float] = [20, 0, 50, 100]
    let trainer = try w.trainer(w.config(model, sparsity: lambdas), lossTerms: nil)
    let term = try #require(trainer.lossTerms.first as? JacobianSparsityTerm, "the registry supplies the Jacobian term")
    #expect(trainer.lossTerms.count == 1 && term.lambdas == lambdas)
    let x = try batch(w)
    let (entries, _) = try trainer.lossVector(x, training: true)
    #expect(term.computedJacobians == 3, "J is computed in training for the three pairs with λ > 0 only")
    let j = try directJacobians(trainer, x)
    let (_, outputs) = try withNoGrad { try trainer.forward(x) }
    for (e, members) in trainer.layout.entries.enumerated() {
      let plain = members.map { outputs[model.saeKeys[$0]]!.losses.total.value.scalar }.reduce(0, +)
      let expected = plain + lambdas[e] * j[e]
      #expect(j[e] > 0)
      #expect(abs(entries[e].value.scalar - expected) <= 1e-5 * Swift.max(1, abs(expected)),
              "entry \(e): \(entries[e].value.scalar) vs recon \(plain) + λ·J \(lambdas[e] * j[e])")
      if lambdas[e] > 0 { #expect(lambdas[e] * j[e] > 1e-2 * plain, "λ·J is a visible share of entry \(e)") }
    }
    // At evaluation the loss includes λ·J too, and ∇_l1 = λ·∇_l1_raw.
    let (losses, m, extras) = try trainer.validation(of: trainer.model, includeLosses: true)
    let raw = try #require(extras.first { $0.0 == "∇_l1_raw" }?.1), scaled = try #require(extras.first { $0.0 == "∇_l1" }?.1)
    for (e, key) in trainer.layout.entryKeys.enumerated() {
      let members = trainer.layout.entries[e].map { trainer.model.keys[$0] }
      let expected = members.map { m.saeLoss[$0]! }.reduce(0, +) + lambdas[e] * m.jacobianL1[key]!
      #expect(abs(losses[e] - expected) <= 1e-5 * Swift.max(1, abs(expected)))
      #expect(raw[e] == m.jacobianL1[key]! && abs(scaled[e] - lambdas[e] * raw[e]) <= 1e-6 * raw[e])
    }
  }

  @Test func zeroLambdaSkipsJacobianInTrainingButReportsItAtEvaluation() throws {
    let w = try SAETrainingWorkspace()
    let trainer = try w.trainer(w.config(JSAETestModels.layer, sparsity: [0, 0, 0, 0]), lossTerms: nil)
    let term = try #require(trainer.lossTerms.first as? JacobianSparsityTerm)
    let (losses, norm) = try trainer.trainStep(step: 1, learningRate: 1e-3)
    #expect(losses.count == 4 && norm > 0)
    #expect(term.computedJacobians == 0, "λ = 0: no Jacobian in training")

    let line = LogLine(try trainer.evaluate(step: 1)).text
    let names = line.components(separatedBy: " | ").map { String($0.prefix { $0 != " " }) }
    let tail = Array(names.drop { $0 != "stream_l1s" })
    #expect(tail == ["stream_l1s", "∇_l1_raw", "∇_l1", "recon_l2"], "eval line fields \(names)")
    let raw = try #require(field(line, "∇_l1_raw")), scaled = try #require(field(line, "∇_l1"))
    let recon = try #require(field(line, "recon_l2"))
    #expect(raw.count == 4 && raw.allSatisfy { $0 > 0 }, "J is reported at λ = 0: \(raw)")
    #expect(scaled == [0, 0, 0, 0])
    #expect(recon.count == 8 && recon.allSatisfy { $0 > 0 })
    // The raw values are the J of the eval batch (reused from the batch's metrics, not recomputed).
    #expect(term.computedJacobians == 0)
    var val = try TokenDataLoader(directory: w.data, split: .val, batchSize: 1, sequenceLength: 128)
    let (vx, vy) = try val.nextBatch()
    let j = try directJacobians(trainer, vx)
    for (a, b) in zip(raw, j) { #expect(abs(a - b) <= 1e-4 * b + 5e-5, "logged \(a) vs direct \(b)") }
    let m = try trainer.model.metrics(vx, targets: vy)
    for (r, key) in zip(recon, trainer.model.keys) { #expect(abs(r - m.reconstruct[key]!) <= 5e-5 + 1e-4 * r) }
    // Without the batch's metrics the term computes every pair's J itself at evaluation.
    let batch = try withNoGrad { () -> SAELossBatch in
      let (acts, outputs) = try trainer.forward(vx)
      return SAELossBatch(model: trainer.model, tokens: vx, activations: acts, outputs: outputs, layout: trainer.layout,
                          coefficients: trainer.config.lossCoefficients, isTraining: false)
    }
    let extra = try withNoGrad { try term.loss(for: batch) }
    #expect(term.computedJacobians == 4)
    let recomputed = try #require(extra.metrics.first { $0.name == "∇_l1_raw" }?.values)
    for (a, b) in zip(recomputed, j) { #expect(abs(a - b) <= 1e-5 * b) }
  }

  @Test func jacobianGradientReachesTheSAEWeights() throws {
    let w = try SAETrainingWorkspace()
    let lambda: Float = 1
    let with = try w.trainer(w.config(JSAETestModels.layer, name: "with", sparsity: [lambda, lambda, lambda, lambda]), lossTerms: nil)
    let without = try w.trainer(w.config(JSAETestModels.layer, name: "without", sparsity: [0, 0, 0, 0]), lossTerms: nil)
    let x = try batch(w)
    func gradients(_ t: ConcurrentSAETrainer) throws -> [String: Tensor] {
      for (_, p) in t.model.namedParameters { p.zeroGrad() }
      let (entries, _) = try t.lossVector(x, training: true)
      entries.dropFirst().reduce(entries[0], +).backward()
      return Dictionary(uniqueKeysWithValues: t.model.namedParameters.compactMap { n, p in p.grad.map { (n, $0) } })
    }
    let gWith = try gradients(with), gWithout = try gradients(without)
    // ∂J/∂W directly from JacobianSparsity on the λ = 0 model (same initial weights).
    for (_, p) in without.model.namedParameters { p.zeroGrad() }
    let (acts, outputs) = try withNoGrad { try without.forward(x) }
    var jSum: Variable?
    for members in without.layout.entries {
      let inKey = without.model.keys[members[0]], outKey = without.model.keys[members[1]]
      let j = JacobianSparsity.pairTerm(without.model, layer: inKey.layer, cleanInput: acts[inKey]!,
                                        inIndices: outputs[inKey]!.topKIndices!, outIndices: outputs[outKey]!.topKIndices!)
      jSum = jSum.map { $0 + j } ?? j
    }
    try #require(jSum).backward()
    let gJ = Dictionary(uniqueKeysWithValues: without.model.namedParameters.compactMap { n, p in p.grad.map { (n, $0) } })
    var checked = 0
    for (name, g) in gWith {
      let base = try #require(gWithout[name]).scalars
      let expectedJ = gJ[name]?.scalars ?? [Float](repeating: 0, count: base.count)
      let diff = zip(g.scalars, base).map { $0 - $1 }
      let scale = expectedJ.map { abs($0) }.max()! * lambda
      let err = zip(diff, expectedJ).map { abs($0 - lambda * $1) }.max()!
      #expect(err <= 1e-4 * Swift.max(scale, 1e-3), "\(name): grad difference deviates from λ·∂J/∂W by \(err) (scale \(scale))")
      if name.hasSuffix("mlpin.W_dec") || name.hasSuffix("mlpout.W_enc") {
        #expect(scale > 1e-3, "\(name): the Jacobian term moves this gradient")
        checked += 1
      }
    }
    #expect(checked == 8, "W_dec of every input SAE and W_enc of every output SAE")
  }

  @Test func shortRunWithLambdaLowersJacobianAndReportsIt() throws {
    let w = try SAETrainingWorkspace()
    func run(_ lambda: Float, _ name: String) throws -> ConcurrentSAETrainer {
      var c = w.config(JSAETestModels.layer, name: name, maxSteps: 16, sparsity: [Float](repeating: lambda, count: 4))
      c.evalInterval = 16
      c.learningRate = 1e-2
      let t = try w.trainer(c, lossTerms: nil)
      try t.train()
      return t
    }
    let baseline = try run(0, "baseline"), sparse = try run(1, "sparse")
    let j0 = try #require(baseline.finalMetrics?.jacobianL1), j1 = try #require(sparse.finalMetrics?.jacobianL1)
    #expect(j0.count == 4 && j1.count == 4, "final metrics carry J per pair")
    let total0 = j0.values.reduce(0, +), total1 = j1.values.reduce(0, +)
    #expect(total1 < 0.75 * total0, "λ > 0 lowers J: \(total0) → \(total1)")
    // Step-0 and final eval lines both carry J at λ = 0.
    let lines = try w.evalLines("baseline")
    #expect(lines.count == 2 && lines.allSatisfy { field($0, "∇_l1_raw")?.count == 4 })
  }

  @Test func sparsityArgumentsParseAndRejectOnOneLine() throws {
    let model = JSAETestModels.layer
    #expect(try SparsityArgument(parsing: "1e-3", for: model).values == [1e-3, 1e-3, 1e-3, 1e-3])
    #expect(try SparsityArgument(parsing: "1.8e-3, 1.2e-3,3.3e-3,2.2e-3", for: model).values == [1.8e-3, 1.2e-3, 3.3e-3, 2.2e-3])
    #expect(try SparsityArgument(parsing: "0.1,0.2,0.3,0.4,0.5", for: TestSAEModels.topK).floats == [0.1, 0.2, 0.3, 0.4, 0.5])
    for (text, needle) in [("1e-3,2e-3", "needs 1 or 4 (one per pair)"), ("1,2,3,4,5,6,7,8", "has 8 values"),
                           ("abc", "'abc' is not a number"), ("-1", "'-1' is not a number ≥ 0"), ("1e-3,,2", "'' is not"),
                           ("nan", "'nan'")] {
      do {
        _ = try SparsityArgument(parsing: text, for: model)
        Issue.record("--sparsity \(text) was accepted")
      } catch let e as TrainingError {
        #expect(e.description.contains(needle) && !e.description.contains("\n"), "\(text): \(e.description)")
      }
    }
    // The trainer rejects a wrong count in a config too.
    let w = try SAETrainingWorkspace()
    #expect(throws: TrainingError.self) { try w.trainer(w.config(model, sparsity: [1e-3, 1e-3]), lossTerms: nil) }
    // And the term itself (for a model that is not a JSAE).
    let gpt = try GPT(config: GPTConfig.preset("ascii_64x4")!, seed: 1)
    let topK = try SparsifiedGPT(gpt: gpt, config: TestSAEModels.topK.saeConfig)
    do {
      _ = try JacobianSparsityTerm(lambdas: [0, 0, 0, 0, 0], model: topK)
      Issue.record("a Jacobian term on a topk model was accepted")
    } catch let e as TrainingError {
      #expect(e.description.contains("needs variant jsae") && !e.description.contains("\n"))
    }
  }

  @Test func runNamesFormatLambdaAsPython() throws {
    // Python: f"{0.001:.1e}" == "1.0e-03", f"{0.00125:.1e}" == "1.3e-03" (the double, not the float, is rounded).
    #expect(SparsityArgument.format(1e-3) == "1.0e-03")
    #expect(SparsityArgument.format(0) == "0.0e+00")
    #expect(SparsityArgument.format(0.00125) == "1.3e-03")
    #expect(SparsityArgument.format(0.00105) == "1.0e-03")
    #expect(SparsityArgument.format(1.0e-2) == "1.0e-02")
    let model = JSAETestModels.layer
    let one = try SparsityArgument(parsing: "1e-3", for: model)
    #expect(SparsityArgument.defaultRunName(base: "jsae.shakespeare_64x4", lambdas: one) == "jsae.shakespeare_64x4-sparse-1.0e-03")
    let same = try SparsityArgument(parsing: "1e-3,1e-3,1e-3,1e-3", for: model)
    #expect(same.nameSuffix == "-sparse-1.0e-03")
    let perLayer = try SparsityArgument(parsing: "1.8e-3,1.2e-3,3.3e-3,2.2e-3", for: model)
    #expect(perLayer.nameSuffix == "-sparse-1.8e-03_1.2e-03_3.3e-03_2.2e-03")
    #expect(SparsityArgument.namesRuns(of: model) && SparsityArgument.namesRuns(of: JSAETestModels.block))
    #expect(!SparsityArgument.namesRuns(of: TestSAEModels.topK) && !SparsityArgument.namesRuns(of: TestSAEModels.staircaseBlock))
    // Sweep runs are named the same way, from the base config's name.
    let w = try SAETrainingWorkspace()
    let sweep = try JSAESweep(base: w.config(model, name: "jsae.shakespeare_64x4"), lambdas: [0, 1.8e-3],
                              gptDirectory: w.gptDirectory, checkpointsDirectory: w.checkpoints, echo: false)
    #expect(try sweep.config(for: 0).name == "jsae.shakespeare_64x4-sparse-0.0e+00")
    #expect(try sweep.config(for: 1.8e-3).name == "jsae.shakespeare_64x4-sparse-1.8e-03")
    #expect(try sweep.config(for: 1.8e-3).lossCoefficients.sparsity == [1.8e-3, 1.8e-3, 1.8e-3, 1.8e-3])
  }

  @Test func sweepGridParsingAndValidation() throws {
    #expect(try JSAESweep.parseGrid("paper") == JSAESweep.paperGrid)
    #expect(JSAESweep.paperGrid.count == 13 && JSAESweep.paperGrid.first == 0 && JSAESweep.paperGrid.last == 1e-2)
    #expect(try JSAESweep.parseGrid("0, 1.0e-3,1.8e-3") == [0, 1e-3, 1.8e-3])
    #expect(throws: TrainingError.self) { try JSAESweep.parseGrid("0,x") }
    #expect(throws: TrainingError.self) { try JSAESweep.parseGrid("") }
    let w = try SAETrainingWorkspace()
    func sweep(_ model: SAEModelConfig, _ grid: [Double]) throws -> JSAESweep {
      try JSAESweep(base: w.config(model), lambdas: grid, gptDirectory: w.gptDirectory, checkpointsDirectory: w.checkpoints, echo: false)
    }
    for (model, grid, needle) in [(JSAETestModels.layer, [1.0e-3, 1.04e-3], "both name the run"),
                                  (TestSAEModels.topK, [0.0], "trains jsae or jsae_block"),
                                  (JSAETestModels.layer, [], "empty")] {
      do {
        _ = try sweep(model, grid)
        Issue.record("sweep \(grid) of \(model.name) was accepted")
      } catch let e as TrainingError {
        #expect(e.description.contains(needle) && !e.description.contains("\n"), "\(e.description)")
      }
    }
  }

  /// The runs of a sweep read the same batches: with activations kept, the GPT runs once on each of the 4
  /// training batches and the evaluation batch (evaluated at steps 0, 2, 4), the second run reuses all 7, and the
  /// results equal a sweep that recomputes them.
  @Test func sweepRunsShareTheGPTActivations() throws {
    let w = try SAETrainingWorkspace()
    var base = w.config(JSAETestModels.layer, name: "grid", maxSteps: 4)
    base.evalInterval = 2
    func sweep(_ directory: String, keeping bytes: Int) throws -> JSAESweep {
      let s = try JSAESweep(base: base, lambdas: [0, 0.05], gptDirectory: w.gptDirectory,
                            checkpointsDirectory: w.root.appendingPathComponent(directory), echo: false)
      s.retainedBytes = bytes
      return s
    }
    let recomputing = try sweep("recomputed", keeping: 0), reusing = try sweep("reused", keeping: 64 << 20)
    let expected = try recomputing.run(), got = try reusing.run()
    #expect(recomputing.sharedActivations == nil)
    let shared = try #require(reusing.sharedActivations)
    #expect(shared.misses == 5 && shared.hits == 9, "misses \(shared.misses) hits \(shared.hits)")
    #expect(got.map(\.jacobianL1) == expected.map(\.jacobianL1) && got.map(\.l0) == expected.map(\.l0)
            && got.map(\.ceLossIncrease) == expected.map(\.ceLossIncrease))
  }

  @Test func sweepSkipsFinishedRunsAndResumesStoppedOnes() throws {
    let w = try SAETrainingWorkspace()
    var base = w.config(JSAETestModels.layer, name: "grid", maxSteps: 4)
    base.evalInterval = 2
    let sweep = try JSAESweep(base: base, lambdas: [0, 0.05], gptDirectory: w.gptDirectory, checkpointsDirectory: w.checkpoints,
                              echo: false)
    let c0 = try sweep.config(for: 0), c1 = try sweep.config(for: 0.05)
    #expect(try sweep.state(of: c0) == .new)
    // Interrupt the second run after step 1.
    let partial = try ConcurrentSAETrainer(config: c1, loadFrom: w.gptDirectory, checkpointsDirectory: w.checkpoints, echo: false)
    #expect(try partial.train(stopAfter: 1) == 1)
    #expect(try sweep.state(of: c1) == .stopped(step: 1))
    // Without --resume the sweep refuses before training anything.
    do {
      _ = try sweep.run(resume: false)
      Issue.record("a stopped run was silently restarted")
    } catch let e as TrainingError {
      #expect(e.description.contains("resume") && e.description.contains(c1.name) && !e.description.contains("\n"))
    }
    #expect(try sweep.state(of: c0) == .new)
    // With --resume: the first run trains, the second continues from step 1.
    let results = try sweep.run(resume: true)
    #expect(results.map(\.lambda) == [0, 0.05] && results.map(\.name) == [c0.name, c1.name])
    #expect(results.allSatisfy { $0.steps == 4 && $0.jacobianL1.count == 4 && $0.ceLossIncrease.count == 4 && $0.l0.count == 8 })
    #expect(results.allSatisfy { $0.jacobianL1.values.allSatisfy { $0 > 0 } })
    let evalLines1 = try w.evalLines(c1.name)
    #expect(evalLines1.map { $0.components(separatedBy: " | ")[1] } == ["step 0", "step 2", "step 4"],
            "continued after step 1, not restarted: \(evalLines1.count) eval lines")
    for c in [c0, c1] {
      guard case .finished(let r) = try sweep.state(of: c) else { Issue.record("\(c.name) is not finished"); continue }
      #expect(r == results.first { $0.name == c.name })
    }
    // Finished runs are skipped (no new log lines) and their recorded results returned.
    let before = try [c0, c1].map { try w.evalLines($0.name).count }
    #expect(try sweep.run(resume: false) == results)
    #expect(try [c0, c1].map { try w.evalLines($0.name).count } == before)
    // A run whose results were lost is only evaluated again, not retrained.
    try FileManager.default.removeItem(at: w.checkpoints.appendingPathComponent(c0.name).appendingPathComponent(JSAESweep.resultFile))
    #expect(try sweep.state(of: c0) == .trained)
    let again = try sweep.run(resume: false)
    #expect(try w.evalLines(c0.name).count == before[0])
    #expect(again[0].jacobianL1 == results[0].jacobianL1 && again[0].l0 == results[0].l0)
    // A grid with a shorter max_steps than what was trained is an error.
    var shorter = base
    shorter.maxSteps = 3
    let short = try JSAESweep(base: shorter, lambdas: [0], gptDirectory: w.gptDirectory, checkpointsDirectory: w.checkpoints, echo: false)
    #expect(throws: TrainingError.self) { try short.run(resume: true) }
    // The table: a header and one row per λ with L0 (in/out), CE increases and J per layer.
    let table = JSAESweep.table(results).split(separator: "\n").map(String.init)
    #expect(table.count == 3)
    #expect(table[0].hasPrefix("λ") && table[0].contains("L0[0]") && table[0].contains("ΔCE[3]") && table[0].contains("ΔCE(all)")
            && table[0].contains("J[3]"))
    #expect(table[1].hasPrefix("0.0e+00") && table[2].hasPrefix("5.0e-02") && table[1].contains("4.00/4.00"))
  }
}
