import Foundation
import Testing
@testable import Tensor

/// Fused and vectorised kernels against their plain reference versions.
@Suite struct KernelTests {
  // MARK: layer norm

  @Test(arguments: [[1, 8], [3, 5, 17], [130, 16], [2, 64]])
  func layerNormMatchesReference(shape: [Int]) {
    let c = shape.last!
    let x = Ref.random(shape, seed: 71, low: -3, high: 3).adding(0.5)
    let w = Ref.random([c], seed: 72, low: 0.5, high: 1.5), b = Ref.random([c], seed: 73)
    let (y, cache) = LayerNormKernel.forward(x, weight: w, bias: b)
    let yRef = LayerNormKernel.referenceForward(x, weight: w, bias: b)
    #expect(Ref.maxAbsDiff(y.scalars, yRef.scalars) < 2e-6)
    #expect(cache.mean.shape == [x.count / c] && cache.rstd.shape == [x.count / c])

    let dy = Ref.random(shape, seed: 74)
    let (dx, dw, db) = LayerNormKernel.backward(dy, x: x, weight: w, cache: cache)
    let (dxRef, dwRef, dbRef) = LayerNormKernel.referenceBackward(dy, x: x, weight: w)
    #expect(Ref.maxAbsDiff(dx.scalars, dxRef.scalars) < 1e-5)
    #expect(Ref.maxRelDiff(dw.scalars, dwRef.scalars, floor: 1) < 1e-5)
    #expect(Ref.maxRelDiff(db.scalars, dbRef.scalars, floor: 1) < 1e-5)
    KernelTests.record("layerNorm \(shape)", [Ref.maxAbsDiff(y.scalars, yRef.scalars), Ref.maxAbsDiff(dx.scalars, dxRef.scalars)])
  }

  @Test func layerNormReferenceIsCorrectOnAKnownRow() {
    // x = [1, 2, 3, 4]: mean 2.5, biased variance 1.25.
    let x = Tensor(shape: [1, 4], scalars: [1, 2, 3, 4])
    let y = LayerNormKernel.referenceForward(x, weight: Tensor.ones([4]), bias: Tensor.zeros([4]), eps: 0)
    let s = Float(1.25).squareRoot()
    #expect(Ref.maxAbsDiff(y.scalars, [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s]) < 1e-6)
    let (yk, _) = LayerNormKernel.forward(x, weight: Tensor([1, 2, 1, 1]), bias: Tensor([0, 0, 0, 10]), eps: 0)
    #expect(Ref.maxAbsDiff(yk.scalars, [-1.5 / s, -1 / s, 0.5 / s, 1.5 / s + 10]) < 1e-6)
  }

  // MARK: attention

  /// Plain Double reference of the attention backward pass: dqkv from dy.
  static func referenceAttentionBackward(_ qkv: Tensor, _ dy: Tensor, heads: Int) -> [Double] {
    let b = qkv.shape[0], t = qkv.shape[1], c = qkv.shape[2] / 3, hs = c / heads
    let x = qkv.scalars.map(Double.init), g = dy.scalars.map(Double.init)
    var d = [Double](repeating: 0, count: x.count)
    let scale = 1 / Double(hs).squareRoot()
    func q(_ bi: Int, _ i: Int, _ h: Int, _ e: Int) -> Int { (bi * t + i) * 3 * c + h * hs + e }
    for bi in 0..<b {
      for h in 0..<heads {
        for i in 0..<t {
          var s = [Double](repeating: 0, count: i + 1)
          for j in 0...i { for e in 0..<hs { s[j] += x[q(bi, i, h, e)] * x[q(bi, j, h, e) + c] }; s[j] *= scale }
          let m = s.max()!
          let ex = s.map { Foundation.exp($0 - m) }, z = ex.reduce(0, +)
          let p = ex.map { $0 / z }
          // dP_ij = dy_i · v_j ; dS = P ⊙ (dP − Σ P·dP)
          var dp = [Double](repeating: 0, count: i + 1)
          for j in 0...i { for e in 0..<hs { dp[j] += g[(bi * t + i) * c + h * hs + e] * x[q(bi, j, h, e) + 2 * c] } }
          let dot = zip(p, dp).map { $0 * $1 }.reduce(0, +)
          for j in 0...i {
            let ds = p[j] * (dp[j] - dot) * scale
            for e in 0..<hs {
              d[q(bi, i, h, e)] += ds * x[q(bi, j, h, e) + c]
              d[q(bi, j, h, e) + c] += ds * x[q(bi, i, h, e)]
              d[q(bi, j, h, e) + 2 * c] += p[j] * g[(bi * t + i) * c + h * hs + e]
            }
          }
        }
      }
    }
    return d
  }

  /// Both paths (`AttentionKernel.fused`'s loops and the sgemm row blocks) at head sizes that take the 16-lane,
  /// 8-lane and scalar column loops (2, 4, 6, 16, 24, 32) and lengths on and off the 4-row and 16-key blocks;
  /// the fused loops on whole sequences and head by head (each against the other, bit for bit).
  @Test(arguments: [(1, 1, 1, 4), (2, 5, 2, 8), (1, 33, 3, 12), (2, 40, 2, 4), (1, 7, 1, 2), (1, 37, 2, 48), (1, 130, 4, 64),
                    (1, 20, 1, 32)])
  func attentionMatchesReference(b: Int, t: Int, heads: Int, c: Int) {
    let qkv = Ref.random([b, t, 3 * c], seed: UInt64(81 + t), low: -2, high: 2)
    let yRef = AttentionKernel.referenceForward(qkv, heads: heads)
    let dy = Ref.random([b, t, c], seed: 82)
    let dRef = KernelTests.referenceAttentionBackward(qkv, dy, heads: heads).map { Float($0) }
    var maxY: Float = 0, maxD: Float = 0
    for fused in [true, false] {
      for block in Set([1, 7, 32, t]) {
        let (y, cache) = AttentionKernel.forward(qkv, heads: heads, rowBlock: block, fused: fused)
        #expect(y.shape == [b, t, c])
        // The inference path (no probabilities kept) makes the same calls: bit-identical output; so do whole
        // sequences and head by head.
        let inference = AttentionKernel.inference(qkv, heads: heads, rowBlock: block, fused: fused)
        #expect(inference.scalars.map(\.bitPattern) == y.scalars.map(\.bitPattern), "inference rowBlock \(block) fused \(fused)")
        let copies = AttentionKernel.copiesSequences(batch: b, length: t, channels: c)
        let (yOther, cacheOther) = AttentionKernel.forward(qkv, heads: heads, rowBlock: block, fused: fused, wholeSequences: !copies)
        let inferenceOther = AttentionKernel.inference(qkv, heads: heads, rowBlock: block, fused: fused, wholeSequences: !copies)
        let othersMatch = yOther.scalars.map(\.bitPattern) == y.scalars.map(\.bitPattern)
          && inferenceOther.scalars.map(\.bitPattern) == y.scalars.map(\.bitPattern)
          && cacheOther.probabilities.scalars.map(\.bitPattern) == cache.probabilities.scalars.map(\.bitPattern)
        #expect(othersMatch, "whole sequences \(!copies) rowBlock \(block) fused \(fused)")
        maxY = max(maxY, Ref.maxAbsDiff(y.scalars, yRef.scalars))
        #expect(Ref.maxAbsDiff(y.scalars, yRef.scalars) < 2e-6, "forward rowBlock \(block) fused \(fused)")
        // probabilities: rows sum to one, zero above the diagonal
        #expect(cache.probabilities.shape == (fused ? [b, heads, AttentionHeadKernel.packedCount(t)] : [b, heads, t, t]))
        let p = cache.rowMajorProbabilities()
        #expect(p.shape == [b, heads, t, t])
        for r in 0..<(b * heads * t) {
          let i = r % t
          let row = Array(p.scalars[(r * t)..<((r + 1) * t)])
          #expect(abs(row.reduce(0, +) - 1) < 1e-5 && row[(i + 1)...].allSatisfy { $0 == 0 })
        }
        for backBlock in Set([1, 7, t]) {
          let d = AttentionKernel.backward(dy, qkv: qkv, heads: heads, cache: cache, rowBlock: backBlock, fused: fused)
          let dOther = AttentionKernel.backward(dy, qkv: qkv, heads: heads, cache: cache, rowBlock: backBlock, fused: fused,
                                                wholeSequences: !copies)
          let backwardsMatch = dOther.scalars.map(\.bitPattern) == d.scalars.map(\.bitPattern)
          #expect(backwardsMatch, "backward whole sequences \(!copies) rowBlock \(block)/\(backBlock) fused \(fused)")
          maxD = max(maxD, Ref.maxAbsDiff(d.scalars, dRef))
          #expect(Ref.maxAbsDiff(d.scalars, dRef) < 1e-5, "backward rowBlock \(block)/\(backBlock) fused \(fused)")
        }
      }
    }
    KernelTests.record("attention b\(b) t\(t) h\(heads) c\(c)", [maxY, maxD])
  }

  /// Whole sequences once the batch's qkv leaves cache, head by head while it fits or a sequence's buffers would not.
  @Test func attentionTakesWholeSequencesBeyondCache() {
    #expect(AttentionKernel.copiesSequences(batch: 128, length: 128, channels: 64))
    #expect(AttentionKernel.copiesSequences(batch: 32, length: 128, channels: 64))
    #expect(!AttentionKernel.copiesSequences(batch: 8, length: 128, channels: 64))
    #expect(!AttentionKernel.copiesSequences(batch: 64, length: 1024, channels: 768))
  }

  @Test func attentionFirstRowCopiesFirstValue() {
    // Causality: position 0 attends only to itself, so y[0] = v[0] whatever q and k are.
    let qkv = Ref.random([1, 6, 12], seed: 85)
    let (y, _) = AttentionKernel.forward(qkv, heads: 2)
    #expect(Ref.maxAbsDiff(y.slice(axis: 1, 0..<1).scalars, qkv.slice(axis: 1, 0..<1).slice(axis: 2, 8..<12).scalars) < 1e-6)
  }

  /// The scores from Kᵀ (a plain product) and from K's rows (a product with B transposed) are the same bits at
  /// the head sizes that may take Kᵀ (`AttentionKernel.transposedKeysMaxHeadSize`), with and without the
  /// probabilities kept, for both softmaxes, with whatever OpenBLAS core runs the test; `blasHeadForward` takes
  /// the one its core is fastest with.
  @Test(arguments: [(37, 8), (128, 16), (100, 16), (77, 24)])
  func attentionScoresFromTransposedKeysAreTheSameBits(length t: Int, headSize hs: Int) {
    let heads = 2, c = heads * hs
    let qkv = Ref.random([1, t, 3 * c], seed: UInt64(7 * t + hs), low: -2, high: 2)
    let base = qkv.scalars
    var kt = [Float](repeating: 0, count: hs * t)
    for h in 0..<heads {
      for j in 0..<t { for d in 0..<hs { kt[d * t + j] = base[j * 3 * c + c + h * hs + d] } }
      for keep in [false, true] {
        for exact in [false, true] {
          var outs = [[Float]](repeating: [Float](repeating: 0, count: t * c), count: 3)
          var probs = [[Float]](repeating: [Float](repeating: 0, count: t * t), count: 3)
          for path in 0..<3 {
            base.withUnsafeBufferPointer { b in
              let q = b.baseAddress! + h * hs, k = q + c, v = q + 2 * c
              withUnsafeTemporaryAllocation(of: Float.self, capacity: 32 * t) { scratch in
                outs[path].withUnsafeMutableBufferPointer { o in
                  probs[path].withUnsafeMutableBufferPointer { p in
                    let pp = keep ? p.baseAddress! : nil, out = o.baseAddress! + h * hs
                    switch path {
                    case 0:
                      AttentionKernel.headRows(q: q, k: k, keysTransposed: nil, v: v, stride: 3 * c, length: t, headSize: hs,
                                               rowBlock: 32, out: out, outStride: c, probabilities: pp,
                                               scratch: scratch.baseAddress!, exactSoftmax: exact)
                    case 1:
                      kt.withUnsafeBufferPointer { ktb in
                        AttentionKernel.headRows(q: q, k: k, keysTransposed: ktb.baseAddress!, v: v, stride: 3 * c, length: t,
                                                 headSize: hs, rowBlock: 32, out: out, outStride: c, probabilities: pp,
                                                 scratch: scratch.baseAddress!, exactSoftmax: exact)
                      }
                    default:
                      AttentionKernel.blasHeadForward(q: q, k: k, v: v, stride: 3 * c, length: t, headSize: hs, rowBlock: 32,
                                                      out: out, outStride: c, probabilities: pp, scratch: scratch.baseAddress!,
                                                      exactSoftmax: exact)
                    }
                  }
                }
              }
            }
          }
          let label = "t \(t), head size \(hs), head \(h), probabilities kept \(keep), exact \(exact), core \(BLAS.coreName)"
          #expect(outs[1].map(\.bitPattern) == outs[0].map(\.bitPattern), "Kᵀ against K's rows: \(label)")
          #expect(outs[2].map(\.bitPattern) == outs[0].map(\.bitPattern), "blasHeadForward: \(label)")
          if keep { #expect(probs[1].map(\.bitPattern) == probs[0].map(\.bitPattern), "probabilities: \(label)") }
          // Not vacuous: the head's outputs are written.
          #expect(outs[0].contains { $0 != 0 })
        }
      }
    }
  }

  // MARK: GELU

  @Test func geluVectorisedMatchesScalar() {
    let n = 8 * 251 + 5
    let xs = (0..<n).map { -10 + 20 * Float($0) / Float(n - 1) }
    let dys = (0..<n).map { Float(($0 % 7) - 3) * 0.5 }
    var y = [Float](repeating: 0, count: n), dx = [Float](repeating: 0, count: n)
    xs.withUnsafeBufferPointer { x in
      y.withUnsafeMutableBufferPointer { GELUKernel.forward(x.baseAddress!, $0.baseAddress!, n) }
      dys.withUnsafeBufferPointer { g in
        dx.withUnsafeMutableBufferPointer { GELUKernel.backward(x.baseAddress!, g.baseAddress!, $0.baseAddress!, n) }
      }
    }
    var maxF: Float = 0, maxB: Float = 0, maxRef: Double = 0
    for i in 0..<n {
      maxF = max(maxF, abs(y[i] - GELUKernel.scalar(xs[i])))
      maxB = max(maxB, abs(dx[i] - dys[i] * GELUKernel.scalarDerivative(xs[i])))
      let xd = Double(xs[i])
      let exact = 0.5 * xd * (1 + Foundation.tanh(0.7978845608028654 * (xd + 0.044715 * xd * xd * xd)))
      maxRef = max(maxRef, abs(Double(y[i]) - exact))
    }
    #expect(maxF < 5e-6 && maxB < 5e-6 && maxRef < 5e-6)
    // far tails (exp over- and underflow inside the kernel): gelu → x or −0, gelu′ → 1 or 0, no NaN
    let tails: [Float] = [-1e4, -100, -50, -20, 20, 50, 100, 1e4]
    var ty = [Float](repeating: .nan, count: 8), td = [Float](repeating: .nan, count: 8)
    tails.withUnsafeBufferPointer { x in
      ty.withUnsafeMutableBufferPointer { GELUKernel.forward(x.baseAddress!, $0.baseAddress!, 8) }
      [Float](repeating: 1, count: 8).withUnsafeBufferPointer { g in
        td.withUnsafeMutableBufferPointer { GELUKernel.backward(x.baseAddress!, g.baseAddress!, $0.baseAddress!, 8) }
      }
    }
    #expect(ty == [0, 0, 0, 0, 20, 50, 100, 1e4])
    #expect(td == [0, 0, 0, 0, 1, 1, 1, 1])
    // Tensor wrappers use the same kernel.
    let t = Tensor(xs)
    #expect(Ref.maxAbsDiff(t.geluDerivative().scalars, xs.map(GELUKernel.scalarDerivative)) < 5e-6)
    #expect(Ref.maxAbsDiff(t.geluBackward(Tensor(dys)).scalars, dx) == 0)
    // The forward that saves gelu′ (used by autograd) gives the same values, tails included.
    let (ys, ds) = Tensor(xs + tails).geluSavingDerivative()
    #expect(Ref.maxAbsDiff(ys.scalars, y + ty) < 1e-6)
    #expect(Ref.maxAbsDiff(ds.scalars, xs.map(GELUKernel.scalarDerivative) + td) < 5e-6)
    #expect(Array(ys.scalars.suffix(8)) == ty && Array(ds.scalars.suffix(8)) == td)
    // The sigmoid-form forward without the derivative gives that forward's values bit for bit.
    let all = xs + tails
    var yOnly = [Float](repeating: .nan, count: all.count)
    all.withUnsafeBufferPointer { x in
      yOnly.withUnsafeMutableBufferPointer { GELUKernel.forwardSigmoidForm(x.baseAddress!, $0.baseAddress!, all.count) }
    }
    #expect(yOnly == ys.scalars)
    KernelTests.record("gelu vector vs scalar (fwd, bwd)", [maxF, maxB])
  }

  @Test func geluDerivativeMatchesFiniteDifference() {
    for x in stride(from: -5.0, through: 5.0, by: 0.37) {
      let h = 1e-3
      func f(_ v: Double) -> Double { 0.5 * v * (1 + Foundation.tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))) }
      let fd = (f(x + h) - f(x - h)) / (2 * h)
      #expect(abs(Double(GELUKernel.scalarDerivative(Float(x))) - fd) < 1e-5)
    }
  }

  // MARK: cross-entropy

  @Test(arguments: [[1, 5], [4, 7], [2, 70, 11], [3, 64, 9]])
  func crossEntropyMatchesReference(shape: [Int]) {
    let v = shape.last!, rows = shape.reduce(1, *) / v
    let logits = Ref.random(shape, seed: 91, low: -5, high: 5)
    var g = RandomGenerator(seed: 92)
    let targets = IntTensor(shape: Array(shape.dropLast()), scalars: (0..<rows).map { _ in Int32(g.nextInt(below: v)) })
    let (loss, cache) = CrossEntropyKernel.forward(logits, targets: targets)
    let ref = CrossEntropyKernel.referenceLoss(logits, targets: targets)
    #expect(abs(Double(loss) - ref) < 2e-6 * max(1, abs(ref)))
    let d = CrossEntropyKernel.backward(upstream: 2, targets: targets, cache: cache, logitsShape: shape)
    #expect(d.shape == shape)
    // reference: 2 · (softmax − onehot) / rows
    var want = [Float](repeating: 0, count: logits.count)
    for r in 0..<rows {
      let p = SoftmaxKernel.referenceSoftmaxRow(Array(logits.scalars[(r * v)..<((r + 1) * v)]))
      for j in 0..<v { want[r * v + j] = 2 * (p[j] - (j == Int(targets.scalars[r]) ? 1 : 0)) / Float(rows) }
    }
    #expect(Ref.maxAbsDiff(d.scalars, want) < 1e-6)
    KernelTests.record("crossEntropy \(shape)", [Float(abs(Double(loss) - ref)), Ref.maxAbsDiff(d.scalars, want)])
  }

  @Test func crossEntropyKnownValueAndLargeLogits() {
    // uniform logits: loss = log V
    let (l, _) = CrossEntropyKernel.forward(Tensor.zeros([3, 8]), targets: IntTensor([0, 3, 7]))
    #expect(abs(l - Foundation.logf(8)) < 1e-6)
    let big = Tensor(shape: [1, 3], scalars: [1000, 0, -1000])
    let (l2, _) = CrossEntropyKernel.forward(big, targets: IntTensor([1]))
    #expect(abs(l2 - 1000) < 1e-3 && l2.isFinite)
  }

  // MARK: vector math

  /// Distance in units in the last place between two finite floats of equal sign.
  static func ulps(_ a: Float, _ b: Float) -> Int {
    if a == b { return 0 }
    return abs(Int(a.bitPattern) - Int(b.bitPattern))
  }

  static func sweep(_ lo: Float, _ hi: Float, _ n: Int) -> [Float] {
    (0..<n).map { lo + (hi - lo) * Float($0) / Float(n - 1) }
  }

  static func apply(_ f: (SIMD8<Float>) -> SIMD8<Float>, _ xs: [Float]) -> [Float] {
    var out: [Float] = []
    out.reserveCapacity(xs.count)
    var i = 0
    while i < xs.count {
      var v = SIMD8<Float>(repeating: 0)
      for l in 0..<8 where i + l < xs.count { v[l] = xs[i + l] }
      let r = f(v)
      for l in 0..<8 where i + l < xs.count { out.append(r[l]) }
      i += 8
    }
    return out
  }

  @Test func vectorExpMatchesFoundation() {
    let xs = KernelTests.sweep(-87, 88, 200_003) + [0, -0.0, 1e-30, -1e-30, 1, -1, 0.5, 88.0, -87.0]
    let ys = KernelTests.apply(VectorMath.exp, xs)
    var maxUlp = 0, maxRel: Double = 0
    for (x, y) in zip(xs, ys) {
      let ref = Foundation.exp(Double(x))
      maxUlp = max(maxUlp, KernelTests.ulps(y, Float(ref)))
      maxRel = max(maxRel, abs(Double(y) - ref) / ref)
    }
    #expect(maxUlp <= 2)
    #expect(maxRel < 2.5e-7)
    #expect(KernelTests.apply(VectorMath.exp, [0])[0] == 1)
    // Outside the accurate range: underflow to exactly 0, overflow to +∞ (as expf), NaN propagates.
    let ext = KernelTests.apply(VectorMath.exp, [-200, -88, -87.5, -.infinity, 100, 89, .infinity, .nan, 88.5])
    #expect(ext[0] == 0 && ext[1] == 0 && ext[2] == 0 && ext[3] == 0)
    #expect(ext[4] == .infinity && ext[5] == .infinity && ext[6] == .infinity)
    #expect(ext[7].isNaN)
    #expect(ext[8] > 1.9e38 && ext[8].isFinite)
    KernelTests.record("VectorMath.exp on [-87, 88] (max ulp, max rel)", [Float(maxUlp), Float(maxRel)])
  }

  @Test func vectorExpSaturatingEqualsExpInRangeAndSaturatesOutside() {
    let xs = KernelTests.sweep(-87.3, 88.3, 100_003) + [0, -0.0, 1, -1]
    let a = KernelTests.apply(VectorMath.expSaturating, xs), b = KernelTests.apply(VectorMath.exp, xs)
    #expect(zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern })
    // Outside: the value at the nearer end of the range, always a normal finite float.
    let ext = KernelTests.apply(VectorMath.expSaturating, [-.infinity, -200, 200, .infinity])
    #expect(ext[0] == ext[1] && ext[0] >= Float.leastNormalMagnitude && ext[0] < 1.3e-38)
    #expect(ext[2] == ext[3] && ext[2].isFinite && ext[2] > 2e38)
  }

  @Test func vectorTanhMatchesFoundation() {
    let xs = KernelTests.sweep(-20, 20, 200_001) + KernelTests.sweep(0.6, 0.65, 1001) + KernelTests.sweep(-0.65, -0.6, 1001)
      + [0, -0.0, 1e-30, -1e-30, 1e-5, 100, -100, 1e30, -1e30, 0.625, -0.625]
    let ys = KernelTests.apply(VectorMath.tanh, xs)
    var maxAbs: Double = 0, maxRel: Double = 0
    for (x, y) in zip(xs, ys) {
      let ref = Foundation.tanh(Double(x))
      maxAbs = max(maxAbs, abs(Double(y) - ref))
      if abs(ref) > 1e-30 { maxRel = max(maxRel, abs(Double(y) - ref) / abs(ref)) }
    }
    #expect(maxAbs < 3e-7)
    #expect(maxRel < 1e-6)
    let ext = KernelTests.apply(VectorMath.tanh, [100, -100, .infinity, -.infinity, 1e-30])
    #expect(ext[0] == 1 && ext[1] == -1 && ext[2] == 1 && ext[3] == -1 && ext[4] == 1e-30)
    KernelTests.record("VectorMath.tanh on [-20, 20] (max abs, max rel)", [Float(maxAbs), Float(maxRel)])
  }

  @Test func vectorMaxMinLoadStore() {
    let a = SIMD8<Float>(1, -2, 3, -4, 5, -6, 7, -8), b = SIMD8<Float>(repeating: 0)
    #expect(VectorMath.max(a, b) == SIMD8<Float>(1, 0, 3, 0, 5, 0, 7, 0))
    #expect(VectorMath.min(a, b) == SIMD8<Float>(0, -2, 0, -4, 0, -6, 0, -8))
    for k in 0..<8 {
      var v = SIMD8<Float>(repeating: -1)
      v[k] = 9
      #expect(VectorMath.horizontalMax(v) == 9)
    }
    var buf = [Float](repeating: 0, count: 9)
    buf.withUnsafeMutableBufferPointer { VectorMath.store(a, $0.baseAddress! + 1) }
    #expect(buf == [0, 1, -2, 3, -4, 5, -6, 7, -8])
    #expect(buf.withUnsafeBufferPointer { VectorMath.load($0.baseAddress! + 1) } == a)
  }

  // MARK: softmax rows

  @Test(arguments: [1, 2, 7, 8, 9, 16, 300, 1000])
  func softmaxRowMatchesReference(n: Int) {
    let x = Ref.random([n], seed: UInt64(100 + n), low: -20, high: 20).scalars
    let want = SoftmaxKernel.referenceSoftmaxRow(x)
    var got = [Float](repeating: 0, count: n), logGot = [Float](repeating: 0, count: n)
    var m: Float = 0
    x.withUnsafeBufferPointer { p in
      got.withUnsafeMutableBufferPointer { SoftmaxKernel.softmaxRow(p.baseAddress!, $0.baseAddress!, n) }
      logGot.withUnsafeMutableBufferPointer { SoftmaxKernel.logSoftmaxRow(p.baseAddress!, $0.baseAddress!, n) }
      m = SoftmaxKernel.rowMax(p.baseAddress!, n)
    }
    #expect(m == x.max()!)
    let rel = zip(got, want).map { abs($0 - $1) / max($1, 1e-30) }.max()!
    #expect(rel < 1e-6)
    let lse = Double(x.max()!) + Foundation.log(x.map { Foundation.exp(Double($0 - x.max()!)) }.reduce(0, +))
    #expect(zip(logGot, x).map { abs(Double($0) - (Double($1) - lse)) }.max()! < 1e-5)
    KernelTests.record("softmaxRow n=\(n) (max rel)", [rel])
  }

  @Test(arguments: [1, 2, 7, 8, 9, 16, 128, 1000])
  func softmaxFiniteRowMatchesReference(n: Int) {
    let x = Ref.random([n], seed: UInt64(300 + n), low: -30, high: 30).scalars
    let want = SoftmaxKernel.referenceSoftmaxRow(x)
    var got = [Float](repeating: 0, count: n), inPlace = x
    x.withUnsafeBufferPointer { p in
      got.withUnsafeMutableBufferPointer { SoftmaxKernel.softmaxFiniteRow(p.baseAddress!, $0.baseAddress!, n) }
    }
    inPlace.withUnsafeMutableBufferPointer { SoftmaxKernel.softmaxFiniteRow($0.baseAddress!, $0.baseAddress!, n) }
    #expect(got == inPlace)
    let rel = zip(got, want).map { abs($0 - $1) / max($1, 1e-30) }.max()!
    #expect(rel < 1e-6)
    #expect(abs(got.reduce(0, +) - 1) < 1e-5)
    KernelTests.record("softmaxFiniteRow n=\(n) (max rel)", [rel])
  }

  @Test func softmaxRowInPlaceAndNegativeInfinity() {
    var x: [Float] = [1, -.infinity, 3, 2, -.infinity, 0, 0, 0, 5]
    let want = SoftmaxKernel.referenceSoftmaxRow(x)
    x.withUnsafeMutableBufferPointer { SoftmaxKernel.softmaxRow($0.baseAddress!, $0.baseAddress!, 9) }
    #expect(x[1] == 0 && x[4] == 0)
    #expect(Ref.maxRelDiff(x, want, floor: 1e-12) < 1e-6)
  }

  /// Prints the largest errors observed, for the test log.
  static func record(_ label: String, _ values: [Float]) {
    print("max-error \(label): " + values.map { String(format: "%.3g", $0) }.joined(separator: ", "))
  }
}
