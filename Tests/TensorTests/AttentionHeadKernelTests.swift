import Testing
@testable import Tensor

/// `AttentionHeadKernel` bit for bit against plain loops that add in the order its documentation states. Debug
/// builds run its scalar loops, optimised builds its 16- and 8-lane vectors: the same expectations in both
/// show the vector width changes no bit.
@Suite struct AttentionHeadKernelTests {
  /// One head, the documented order in plain loops: every product entry sums its terms in order, one multiply
  /// and one add each, then scales; the softmax sums its exponentials in 16 lane-wise partial sums (entry j
  /// in partial j mod 16), reduced by halves.
  struct PlainHead {
    let t: Int, hs: Int
    let q: [Float], k: [Float], v: [Float]  // [t, hs] each

    var scale: Float { 1 / Float(hs).squareRoot() }

    func exp(_ x: Float) -> Float { VectorMath.expSaturating(SIMD8<Float>(repeating: x))[0] }

    func softmax(_ s: [Float]) -> [Float] {
      let m = s.max()!
      let e = s.map { exp($0 - m) }
      var partial = [Float](repeating: 0, count: 16)
      for (j, x) in e.enumerated() { partial[j % 16] += x }
      var width = 8
      while width >= 2 {
        for l in 0..<width { partial[l] += partial[l + width] }
        width /= 2
      }
      let inv = 1 / (partial[0] + partial[1])
      return e.map { $0 * inv }
    }

    /// Probabilities [t, t] (zero above the diagonal) and outputs [t, hs].
    func forward() -> (p: [Float], y: [Float]) {
      var p = [Float](repeating: 0, count: t * t), y = [Float](repeating: 0, count: t * hs)
      for i in 0..<t {
        var s = [Float](repeating: 0, count: i + 1)
        for j in 0...i {
          var c: Float = 0
          for d in 0..<hs { c += q[i * hs + d] * k[j * hs + d] }
          s[j] = c * scale
        }
        for (j, x) in softmax(s).enumerated() { p[i * t + j] = x }
      }
      // Each row's weighted sum runs over the keys of its block of 4 rows (the zeros above the diagonal too).
      for i in 0..<t {
        let n = Swift.min(t, (i / 4 + 1) * 4)
        for e in 0..<hs {
          var c: Float = 0
          for j in 0..<n { c += p[i * t + j] * v[j * hs + e] }
          y[i * hs + e] = c * 1
        }
      }
      return (p, y)
    }

    /// dq, dk, dv [t, hs] from dy [t, hs] and the probabilities.
    func backward(_ g: [Float], _ p: [Float]) -> (dq: [Float], dk: [Float], dv: [Float]) {
      var ds = [Float](repeating: 0, count: t * t)
      var dq = [Float](repeating: 0, count: t * hs), dk = dq, dv = dq
      for i in 0..<t {
        var dp = [Float](repeating: 0, count: i + 1)
        for j in 0...i {
          var c: Float = 0
          for d in 0..<hs { c += g[i * hs + d] * v[j * hs + d] }
          dp[j] = c * 1
        }
        var dot: Float = 0  // VectorMath.dot: 8 lane-wise partial sums, summed by `SIMD.sum`, then the tail
        let whole = VectorMath.vectorized && i + 1 >= 8 ? (i + 1) / 8 * 8 : 0
        if whole > 0 {
          var acc = SIMD8<Float>()
          for j in stride(from: 0, to: whole, by: 8) {
            var a = SIMD8<Float>(), b = SIMD8<Float>()
            for l in 0..<8 { a[l] = p[i * t + j + l]; b[l] = dp[j + l] }
            acc += a * b
          }
          dot = acc.sum()
        }
        for j in whole..<(i + 1) { dot += p[i * t + j] * dp[j] }
        for j in 0...i { ds[i * t + j] = p[i * t + j] * (dp[j] - dot) }
      }
      for i in 0..<t {
        let n = Swift.min(t, (i / 4 + 1) * 4)
        for e in 0..<hs {
          var c: Float = 0
          for j in 0..<n { c += ds[i * t + j] * k[j * hs + e] }
          dq[i * hs + e] = c * scale
        }
      }
      for j in 0..<t {
        let first = j / 4 * 4  // the first query row of j's block of 4 keys
        for e in 0..<hs {
          var ck: Float = 0, cv: Float = 0
          for i in first..<t {
            ck += ds[i * t + j] * q[i * hs + e]
            cv += p[i * t + j] * g[i * hs + e]
          }
          dk[j * hs + e] = ck * scale
          dv[j * hs + e] = cv * 1
        }
      }
      return (dq, dk, dv)
    }
  }

  /// Head sizes through the 16-lane, 8-lane and scalar column loops; lengths on and off the blocks of 4 rows
  /// and 16 keys.
  @Test(arguments: [(1, 16), (5, 16), (37, 24), (64, 16), (19, 3), (33, 8), (20, 32)])
  func forwardAndBackwardAddInTheStatedOrder(length t: Int, headSize hs: Int) {
    // q, k, v interleaved as in a packed projection (row stride 3·hs + 5), dy rows hs + 3 apart.
    let ld = 3 * hs + 5, gs = hs + 3
    let packed = Ref.random([t * ld], seed: UInt64(31 * t + hs), low: -2, high: 2).scalars
    let gPacked = Ref.random([t * gs], seed: UInt64(37 * t + hs)).scalars
    func rows(_ offset: Int, _ stride: Int, _ x: [Float]) -> [Float] {
      (0..<t).flatMap { j in x[(j * stride + offset)..<(j * stride + offset + hs)] }
    }
    let head = PlainHead(t: t, hs: hs, q: rows(0, ld, packed), k: rows(hs, ld, packed), v: rows(2 * hs, ld, packed))
    let g = rows(0, gs, gPacked)
    let (pRef, yRef) = head.forward()
    let (dqRef, dkRef, dvRef) = head.backward(g, pRef)

    let ldo = hs + 1
    var y = [Float](repeating: .nan, count: t * ldo), yInference = y
    var p = [Float](repeating: .nan, count: t * t), packedP = [Float](repeating: .nan, count: AttentionHeadKernel.packedCount(t))
    var yPacked = y
    var dqkv = [Float](repeating: .nan, count: t * ld)
    packed.withUnsafeBufferPointer { x in
      let base = x.baseAddress!
      y.withUnsafeMutableBufferPointer { out in
        p.withUnsafeMutableBufferPointer { pp in
          AttentionHeadKernel.forward(q: base, k: base + hs, v: base + 2 * hs, stride: ld, length: t, headSize: hs,
                                      out: out.baseAddress!, outStride: ldo, probabilities: pp.baseAddress!, exactSoftmax: false)
        }
      }
      yPacked.withUnsafeMutableBufferPointer { out in
        packedP.withUnsafeMutableBufferPointer { pp in
          AttentionHeadKernel.forward(q: base, k: base + hs, v: base + 2 * hs, stride: ld, length: t, headSize: hs,
                                      out: out.baseAddress!, outStride: ldo, probabilities: pp.baseAddress!, packed: true,
                                      exactSoftmax: false)
        }
      }
      yInference.withUnsafeMutableBufferPointer { out in
        AttentionHeadKernel.forward(q: base, k: base + hs, v: base + 2 * hs, stride: ld, length: t, headSize: hs,
                                    out: out.baseAddress!, outStride: ldo, probabilities: nil, exactSoftmax: false)
      }
      gPacked.withUnsafeBufferPointer { gb in
        packedP.withUnsafeBufferPointer { pp in
          dqkv.withUnsafeMutableBufferPointer { d in
            let dq = d.baseAddress!
            AttentionHeadKernel.backward(q: base, k: base + hs, v: base + 2 * hs, stride: ld, dy: gb.baseAddress!, gradientStride: gs,
                                         probabilities: pp.baseAddress!, length: t, headSize: hs, dq: dq, dk: dq + hs, dv: dq + 2 * hs)
          }
        }
      }
    }
    let label = "t \(t), head size \(hs), vectorised \(VectorMath.vectorized)"
    #expect(p.map(\.bitPattern) == pRef.map(\.bitPattern), "probabilities: \(label)")
    #expect(rows(0, ldo, y).map(\.bitPattern) == yRef.map(\.bitPattern), "outputs: \(label)")
    #expect(rows(0, ldo, yInference).map(\.bitPattern) == yRef.map(\.bitPattern), "outputs without probabilities: \(label)")
    #expect(rows(0, ldo, yPacked).map(\.bitPattern) == yRef.map(\.bitPattern), "outputs with packed probabilities: \(label)")
    // The packed blocks: rows i0..<i0 + m of [t, t], each up to the block's last key, one after another.
    let packedRef = stride(from: 0, to: t, by: AttentionHeadKernel.rowBlock).flatMap { i0 in
      let n = Swift.min(t, i0 + AttentionHeadKernel.rowBlock)
      return (i0..<n).flatMap { i in pRef[(i * t)..<(i * t + n)] }
    }
    let packedMatches = packedP.map(\.bitPattern) == packedRef.map(\.bitPattern)
    #expect(packedMatches && packedP.count == AttentionHeadKernel.packedCount(t), "packed probabilities: \(label)")
    #expect(rows(0, ld, dqkv).map(\.bitPattern) == dqRef.map(\.bitPattern), "dq: \(label)")
    #expect(rows(hs, ld, dqkv).map(\.bitPattern) == dkRef.map(\.bitPattern), "dk: \(label)")
    #expect(rows(2 * hs, ld, dqkv).map(\.bitPattern) == dvRef.map(\.bitPattern), "dv: \(label)")
    // Not vacuous: the outputs are finite and not all zero; the kernel left the gaps between rows alone.
    #expect(yRef.contains { $0 != 0 } && dkRef.allSatisfy(\.isFinite))
    #expect(y[hs].isNaN && dqkv[3 * hs].isNaN)
  }
}
