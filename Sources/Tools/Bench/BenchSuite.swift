import Autograd
import Foundation
import GPT
import Tensor
import SAE
import Training
import ArgumentParser

/// The benchmark groups.
struct BenchSuite {
  var peakGflops: Double
  var batch: Int
  var budget: Double
  let t = 128, c = 64, heads = 4, vocab = 128

  static func sgemm(_ m: Int, _ n: Int, _ k: Int, transposeA: Bool, transposeB: Bool, budget: Double) -> (ms: Double, gflops: Double) {
    var g = RandomGenerator(seed: 1)
    let a = Tensor.uniform([m * k], generator: &g), b = Tensor.uniform([k * n], generator: &g)
    var out = Tensor(zeros: [m * n])
    let po = out.unsafeMutablePointer()
    let s = withExtendedLifetime((a, b)) {
      measure(budget: budget) {
        BLAS.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a.unsafePointer,
                   lda: transposeA ? m : k, b: b.unsafePointer, ldb: transposeB ? k : n, c: po, ldc: n)
      }
    }
    return (s * 1e3, 2 * Double(m) * Double(n) * Double(k) / s / 1e9)
  }

  func row(_ name: String, seconds: Double, flops: Double? = nil, bytes: Double? = nil, note: String? = nil) -> BenchResult {
    let gf = flops.map { $0 / seconds / 1e9 }
    return BenchResult(name: name, milliseconds: seconds * 1e3, gflops: gf, gbPerSecond: bytes.map { $0 / seconds / 1e9 },
                       fractionOfSgemm: gf.map { $0 / peakGflops }, note: note)
  }

  func sgemmShapes() -> [BenchResult] {
    let n = batch * t
    let shapes: [(String, Int, Int, Int, Bool, Bool)] = [
      ("c_attn fwd", n, 3 * c, c, false, true), ("attn c_proj fwd", n, c, c, false, true),
      ("c_fc fwd", n, 4 * c, c, false, true), ("mlp c_proj fwd", n, c, 4 * c, false, true),
      ("c_fc dW", 4 * c, c, n, true, false), ("mlp c_proj dX", n, 4 * c, c, false, false),
      ("lm_head fwd", n, vocab, c, false, true),
    ]
    return shapes.map { (label, m, nn, k, ta, tb) in
      let r = BenchSuite.sgemm(m, nn, k, transposeA: ta, transposeB: tb, budget: budget)
      return BenchResult(name: "sgemm \(m)x\(nn)x\(k) \(ta ? "T" : "N")\(tb ? "T" : "N") (\(label))", milliseconds: r.ms,
                         gflops: r.gflops, fractionOfSgemm: r.gflops / peakGflops)
    }
  }

  func kernels() -> [BenchResult] {
    var g = RandomGenerator(seed: 2)
    let n = batch * t
    var out: [BenchResult] = []
    // LayerNorm [B·T, C]
    let x = Tensor.normal([n, c], generator: &g), w = Tensor.normal([c], generator: &g), b = Tensor.normal([c], generator: &g)
    let dy = Tensor.normal([n, c], generator: &g)
    let lnSeconds = measure(budget: budget) {
      let (_, cache) = LayerNormKernel.forward(x, weight: w, bias: b)
      _ = LayerNormKernel.backward(dy, x: x, weight: w, cache: cache)
    }
    out.append(row("layernorm fwd+bwd [\(n), \(c)]", seconds: lnSeconds, bytes: Double(n * c * 4 * 5), note: "x,y,dy,dx + re-read x"))
    // GELU [B·T, 4C]
    let h = Tensor.normal([n, 4 * c], generator: &g), dh = Tensor.normal([n, 4 * c], generator: &g)
    // As autograd runs it: the forward saves gelu′(x), the backward is one product.
    let geluSeconds = measure(budget: budget) {
      let (_, derivative) = h.geluSavingDerivative()
      _ = dh * derivative
    }
    out.append(row("gelu fwd+bwd [\(n), \(4 * c)]", seconds: geluSeconds, bytes: Double(n * 4 * c * 4 * 6),
                   note: "x, y, gelu′ | dy, gelu′, dx"))
    // Feed-forward [B·T, C] → [B·T, 4C] → [B·T, C] forward and backward: FeedForwardKernel's row blocks
    // beside the unfused composition they replaced (whole-batch products and GELU passes), call by call in
    // turn, so that the machine's drift falls on both alike.
    do {
      let w1 = Tensor.normal([4 * c, c], std: 0.02, generator: &g), b1 = Tensor.normal([4 * c], std: 0.02, generator: &g)
      let w2 = Tensor.normal([c, 4 * c], std: 0.02, generator: &g), b2 = Tensor.normal([c], std: 0.02, generator: &g)
      func fused() {
        let (_, cache) = FeedForwardKernel.forward(x, fcWeight: w1, fcBias: b1, projWeight: w2, projBias: b2)
        _ = FeedForwardKernel.backward(dy, x: x, fcWeight: w1, projWeight: w2, cache: cache)
      }
      func composed() {
        let (_, cache) = FeedForwardKernel.referenceForward(x, fcWeight: w1, fcBias: b1, projWeight: w2, projBias: b2)
        _ = FeedForwardKernel.referenceBackward(dy, x: x, fcWeight: w1, projWeight: w2, cache: cache!)
      }
      let (mf, mc) = measureAlternating(budget: 2 * budget, fused, composed)
      let ffFlops = 6 * 2 * Double(n) * Double(c) * Double(4 * c)
      out.append(row("feed-forward fwd+bwd [\(n), \(c)→\(4 * c)→\(c)] fused", seconds: mf, flops: ffFlops,
                     note: String(format: "alternating; composed / fused = %.2f×", mc / mf)))
      out.append(row("  composed: linear, GELU, linear", seconds: mc, flops: ffFlops))
    }
    // A linear layer's backward (c_attn's sizes, [B·T, C] → [B·T, 3C]): LinearKernel.backward's row blocks
    // (dx, dW and db in one pass over dy) beside whole-batch products and a column sum, call by call in turn.
    do {
      let w = Tensor.normal([3 * c, c], std: 0.02, generator: &g), dq = Tensor.normal([n, 3 * c], generator: &g)
      func blocked() { _ = LinearKernel.backward(dq, x: x, weight: w, inputGradient: true, biasGradient: true) }
      func whole() {
        _ = Tensor.matmul(dq, w)
        _ = Tensor.matmul(dq, x, transposeA: true)
        _ = dq.sum(axis: 0)
      }
      let (mb, mw) = measureAlternating(budget: 2 * budget, blocked, whole)
      let linFlops = 2 * 2 * Double(n) * Double(c) * Double(3 * c)
      out.append(row("linear bwd [\(n), \(c)→\(3 * c)] row blocks", seconds: mb, flops: linFlops,
                     note: String(format: "alternating; whole-batch / blocks = %.2f×", mw / mb)))
      out.append(row("  whole-batch products and column sum", seconds: mw, flops: linFlops))
    }
    // Cross-entropy [B·T, V]
    let logits = Tensor.normal([n, vocab], generator: &g)
    let targets = IntTensor(shape: [n], scalars: (0..<n).map { Int32(($0 * 7) % vocab) })
    let ceSeconds = measure(budget: budget) {
      let (_, cache) = CrossEntropyKernel.forward(logits, targets: targets)
      _ = CrossEntropyKernel.backward(upstream: 1, targets: targets, cache: cache, logitsShape: [n, vocab])
    }
    out.append(row("softmax cross-entropy fwd+bwd [\(n), \(vocab)]", seconds: ceSeconds, bytes: Double(n * vocab * 4 * 3)))
    return out
  }

  /// Causal attention at shakespeare_64x4 sizes: forward and backward together, then their parts, the fused
  /// loops beside the sgemm row blocks they replaced.
  func attention() -> [BenchResult] {
    var g = RandomGenerator(seed: 3)
    var out: [BenchResult] = []
    let qkv = Tensor.normal([batch, t, 3 * c], generator: &g), dya = Tensor.normal([batch, t, c], generator: &g)
    let attnSeconds = measure(budget: budget) {
      let (_, cache) = AttentionKernel.forward(qkv, heads: heads)
      _ = AttentionKernel.backward(dya, qkv: qkv, heads: heads, cache: cache)
    }
    // causal FLOPs: forward 2 products of B·h·T(T+1)/2·hs multiply-adds, backward 4
    let attnFlops = 6 * 2 * Double(batch * heads) * Double(t * (t + 1) / 2) * Double(c / heads)
    out.append(row("attention fwd+bwd [\(batch), \(t), \(3 * c)] \(heads) heads", seconds: attnSeconds, flops: attnFlops,
                   note: "causal FLOPs"))
    // Whole sequences at a time against head by head (`AttentionKernel.copiesSequences`), call by call in turn.
    do {
      func run(_ whole: Bool) {
        let (_, cache) = AttentionKernel.forward(qkv, heads: heads, wholeSequences: whole)
        _ = AttentionKernel.backward(dya, qkv: qkv, heads: heads, cache: cache, wholeSequences: whole)
      }
      let (ms, mh) = measureAlternating(budget: 2 * budget, { run(true) }, { run(false) })
      out.append(row("  fused, whole sequences", seconds: ms, flops: attnFlops,
                     note: String(format: "alternating; head by head / whole = %.2f×", mh / ms)))
      out.append(row("  fused, head by head", seconds: mh, flops: attnFlops))
    }
    // Its parts, the fused loops beside the sgemm row blocks they replaced (`AttentionKernel.fused`).
    let fwdFlops = attnFlops / 3, bwdFlops = attnFlops * 2 / 3
    for fused in [true, false] {
      let path = fused ? "fused" : "sgemm rows"
      let inference = measure(budget: budget) { _ = AttentionKernel.inference(qkv, heads: heads, fused: fused) }
      let forward = measure(budget: budget) { _ = AttentionKernel.forward(qkv, heads: heads, fused: fused) }
      let (_, cache) = AttentionKernel.forward(qkv, heads: heads, fused: fused)
      let backward = measure(budget: budget) { _ = AttentionKernel.backward(dya, qkv: qkv, heads: heads, cache: cache, fused: fused) }
      out.append(row("  \(path): fwd, probabilities not kept", seconds: inference, flops: fwdFlops))
      out.append(row("  \(path): fwd, probabilities kept", seconds: forward, flops: fwdFlops,
                     note: "+\(cache.probabilities.count * 4 / 1_000_000) MB written"))
      out.append(row("  \(path): bwd", seconds: backward, flops: bwdFlops))
    }
    return out
  }

  /// FLOPs of one shakespeare_64x4-style training step (forward + backward = 3× forward matmuls).
  func gptStepFlops(_ config: GPTConfig) -> Double {
    let bt = Double(batch * t), cc = Double(config.nEmbd)
    let perLayer = 24 * bt * cc * cc + 2 * Double(batch) * Double(t * (t + 1)) * cc
    let head = 2 * bt * cc * Double(config.vocabSize)
    return 3 * (Double(config.nLayer) * perLayer + head)
  }

  /// Time and FLOPs of every matrix product the linear layers (c_attn, attn c_proj, c_fc, mlp c_proj per
  /// block, lm_head) run in one training step: forward x·Wᵀ, input gradient dy·W and weight gradient dyᵀ·x,
  /// through the same `BLAS.sgemm` calls as `Variable.linear`, in the step's order on preallocated buffers
  /// (their ~76 MB exceed the L3 cache, so operands come from memory as in a real step).
  func linearProducts(_ config: GPTConfig) -> (seconds: Double, flops: Double) {
    let n = batch * t, cc = config.nEmbd
    let perBlock = [(cc, 3 * cc), (cc, cc), (cc, 4 * cc), (4 * cc, cc)]
    let layers = Array(repeating: perBlock, count: config.nLayer).flatMap { $0 } + [(cc, config.vocabSize)]
    var g = RandomGenerator(seed: 6)
    var inputs: [[Int]: (x: Tensor, w: Tensor, dy: Tensor)] = [:]
    for (inF, outF) in layers where inputs[[inF, outF]] == nil {
      inputs[[inF, outF]] = (Tensor.normal([n, inF], generator: &g), Tensor.normal([outF, inF], generator: &g),
                             Tensor.normal([n, outF], generator: &g))
    }
    // Results are discarded: one output buffer large enough for any of them.
    let widest = layers.map { Swift.max($0.0, $0.1) }.max()!
    let out = UnsafeMutablePointer<Float>.allocate(capacity: n * widest)
    defer { out.deallocate() }
    let seconds = withExtendedLifetime(inputs) {
      measure(budget: budget) {
        for (inF, outF) in layers {
          let (x, w, dy) = inputs[[inF, outF]]!
          BLAS.sgemm(transposeA: false, transposeB: true, m: n, n: outF, k: inF, a: x.unsafePointer, lda: inF,
                     b: w.unsafePointer, ldb: inF, c: out, ldc: outF)
          BLAS.sgemm(transposeA: false, transposeB: false, m: n, n: inF, k: outF, a: dy.unsafePointer, lda: outF,
                     b: w.unsafePointer, ldb: inF, c: out, ldc: inF)
          BLAS.sgemm(transposeA: true, transposeB: false, m: outF, n: inF, k: n, a: dy.unsafePointer, lda: outF,
                     b: x.unsafePointer, ldb: inF, c: out, ldc: inF)
        }
      }
    }
    return (seconds, layers.reduce(0) { $0 + 3 * 2 * Double(n) * Double($1.0) * Double($1.1) })
  }

  func gptStep() throws -> [BenchResult] {
    let config = GPTConfig.preset("ascii_64x4")!
    let model = try GPT(config: config, seed: 1)
    let opt = AdamW(groups: model.optimizerGroups(weightDecay: 0.1), learningRate: 1e-3)
    var g = RandomGenerator(seed: 3)
    let tokens = IntTensor(shape: [batch, t], scalars: (0..<(batch * t)).map { _ in Int32(g.nextInt(below: vocab)) })
    let targets = IntTensor(shape: [batch, t], scalars: (0..<(batch * t)).map { _ in Int32(g.nextInt(below: vocab)) })
    var fwd = 0.0
    let step = measure(budget: Swift.max(budget, 3)) {
      model.zeroGrad()
      let t0 = now()
      let loss = try! model.loss(tokens, targets: targets)
      fwd += now() - t0
      loss.backward()
      clipGradNorm(model.parameters, maxNorm: 1)
      opt.step()
    }
    _ = fwd
    if ProcessInfo.processInfo.environment["BENCH_POOL"] != nil {
      let before = TensorMemory.poolStatistics
      for _ in 0..<3 {
        model.zeroGrad()
        try model.loss(tokens, targets: targets).backward()
      }
      let after = TensorMemory.poolStatistics
      FileHandle.standardError.write(Data("pool per step: \((after.hits - before.hits) / 3) hits, \((after.misses - before.misses) / 3) misses, \(after.pooledFloats * 4 / 1_000_000) MB pooled\n".utf8))
    }
    let forward = measure(budget: budget) { _ = withNoGrad { try! model.loss(tokens, targets: targets) } }
    let flops = gptStepFlops(config)
    let (productSeconds, productFlops) = linearProducts(config)
    return [
      row("gpt ascii_64x4 forward (no grad) B\(batch)", seconds: forward, flops: flops / 3),
      row("  its linear layers' products (fwd, dX, dW)", seconds: productSeconds, flops: productFlops,
          note: "sgemm only, in step order"),
      row("gpt ascii_64x4 train step B\(batch)", seconds: step, flops: flops,
          note: String(format: "%.0f tokens/s", Double(batch * t) / step)),
    ]
  }
}

extension BenchSuite {
  /// A directory of random ascii token shards (train and val) for trainers that read from disk.
  static func syntheticData(tokens: Int) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gptc-bench-\(getpid())")
    var g = RandomGenerator(seed: 5)
    for split in ["train", "val"] {
      let values = (0..<tokens).map { _ in UInt16(g.nextInt(below: 128)) }
      try NPY.write(NPYArray(shape: [tokens], data: .uint16(values)), to: dir.appendingPathComponent("\(split)_000000.npy"))
    }
    return dir
  }

  /// One optimisation step of an SAE training preset (frozen random GPT, synthetic tokens), as the trainer runs it.
  func saeStep(preset: String, label: String, sparsity: Float? = nil) throws -> BenchResult {
    let data = try BenchSuite.syntheticData(tokens: batch * t * 4 + 1)
    defer { try? FileManager.default.removeItem(at: data) }
    let trainer = try saeTrainer(preset: preset, data: data, sparsity: sparsity)
    var step = 0
    let seconds = measure(warmup: 2, minRuns: 5, budget: Swift.max(budget, 3)) {
      step += 1
      _ = try! trainer.trainStep(step: step, learningRate: 1e-3)
    }
    return row("\(label) train step B\(batch)", seconds: seconds, note: String(format: "%.0f tokens/s", Double(batch * t) / seconds))
  }

  /// A trainer of SAE preset `preset` on a random GPT (seed 1) and the synthetic corpus at `data`, with every
  /// sparsity coefficient set to `sparsity` when given.
  func saeTrainer(preset: String, data: URL, sparsity: Float? = nil, name: String = "ck") throws -> ConcurrentSAETrainer {
    guard var config = SAETrainingConfig.preset(preset) else { throw ValidationError("unknown SAE preset \(preset)") }
    config.dataDir = data.path
    config.batchSize = batch
    if let sparsity {
      config.lossCoefficients.sparsity = [Float](repeating: sparsity, count: SAETrainingConfig.sparsityCount(for: try config.model()))
    }
    let gpt = try GPT(config: try config.model().architecture(), seed: 1)
    return try ConcurrentSAETrainer(config: config, gpt: gpt, checkpointsDirectory: data.appendingPathComponent(name),
                                    seed: 1, echo: false)
  }

  /// The JSAE step with the Jacobian term (λ `sparsity`) and without it (λ 0), measured alternately step by step in
  /// this process, so that the machine's drift falls on both alike; the second row's note gives their ratio.
  func jsaeStepPair(preset: String, sparsity: Float) throws -> [BenchResult] {
    let data = try BenchSuite.syntheticData(tokens: batch * t * 4 + 1)
    defer { try? FileManager.default.removeItem(at: data) }
    let withJ = try saeTrainer(preset: preset, data: data, sparsity: sparsity, name: "ck-j")
    let without = try saeTrainer(preset: preset, data: data, sparsity: 0, name: "ck-0")
    var step = 0, timesJ: [Double] = [], times0: [Double] = []
    let start = now()
    while step < 2 + 5 || (now() - start < 2 * Swift.max(budget, 3) && step < 200) {
      step += 1
      let t0 = now()
      _ = try withJ.trainStep(step: step, learningRate: 1e-3)
      let t1 = now()
      _ = try without.trainStep(step: step, learningRate: 1e-3)
      let t2 = now()
      if step > 2 { timesJ.append(t1 - t0); times0.append(t2 - t1) }
    }
    let (mJ, m0) = (median(timesJ), median(times0))
    return [row("JSAE \(preset) λ \(sparsity) train step B\(batch) (alternating)", seconds: mJ,
                note: String(format: "fastest %.1f ms", timesJ.min()! * 1e3)),
            row("JSAE \(preset) λ 0 train step B\(batch) (alternating)", seconds: m0,
                note: String(format: "fastest %.1f ms; λ > 0 / λ 0 = %.2f× (medians), %.2f× (fastest)", times0.min()! * 1e3,
                             mJ / m0, timesJ.min()! / times0.min()!))]
  }

  /// A sparsified model of SAE preset `preset` on a frozen random GPT, a random token batch and the clean
  /// activations at its SAE keys.
  func frozenSAEModel(preset: String) throws -> (SAEModelConfig, SparsifiedGPT, IntTensor, [SAEKey: Tensor]) {
    guard let config = SAETrainingConfig.preset(preset) else { throw ValidationError("unknown SAE preset \(preset)") }
    let m = try config.model()
    let gpt = try GPT(config: try m.architecture(), seed: 1)
    gpt.setRequiresGrad(false)
    let model = try SparsifiedGPT(gpt: gpt, config: m.saeConfig, seed: 1)
    var g = RandomGenerator(seed: 4)
    let tokens = IntTensor(shape: [batch, t], scalars: (0..<(batch * t)).map { _ in Int32(g.nextInt(below: 128)) })
    return (m, model, tokens, try model.activations(tokens))
  }

  /// The parts of an SAE step: the frozen GPT's activations, the SAE forwards, and backward of the summed losses.
  func saeStepParts(preset: String) throws -> [BenchResult] {
    let (m, model, tokens, acts) = try frozenSAEModel(preset: preset)
    let actSeconds = measure(budget: budget) { _ = try! model.activations(tokens) }
    let fwdSeconds = measure(budget: budget) {
      for sae in model.orderedSAEs { _ = sae(Variable(acts[sae.key]!)) }
    }
    let bwdSeconds = measure(budget: budget) {
      let losses = model.orderedSAEs.map { $0(Variable(acts[$0.key]!)).losses.total }
      losses.dropFirst().reduce(losses[0], +).backward()
    } - fwdSeconds
    return [row("  GPT activations at \(m.saeKeys.count) keys (no grad)", seconds: actSeconds),
            row("  \(m.saeKeys.count) SAE forwards (fused TopK)", seconds: fwdSeconds),
            row("  backward of the summed SAE losses", seconds: bwdSeconds)]
  }
}
