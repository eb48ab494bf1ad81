import Foundation
import Tensor

extension BenchSuite {
  /// Upper bounds for the rows that run below the 2048³ sgemm rate: the attention kernel's matrix products
  /// alone (the same `BLAS.sgemmSerial` calls, shapes, strides and row blocks, over the same heads split
  /// across the same threads, with no softmax or elementwise work between them), and the multiply-add rate
  /// that this package's own Swift kernels can reach with the code generation they are built with (register-
  /// resident `SIMD4<Float>` multiply then add, as the Jacobian micro-kernels do). AVX-512 builds add the
  /// same for 16 lanes, as the attention loops compute, and the CPU's fused multiply-add peak beside it.
  func ceilings() -> [BenchResult] {
    var g = RandomGenerator(seed: 7)
    let hs = c / heads, blk = AttentionKernel.rowBlock
    let qkv = Tensor.normal([batch, t, 3 * c], generator: &g), dy = Tensor.normal([batch, t, c], generator: &g)
    let probabilities = Tensor.uniform([batch * heads * t * t], generator: &g)
    var outY = Tensor(zeros: [batch, t, c]), outD = Tensor(zeros: [batch, t, 3 * c])
    let py = outY.unsafeMutablePointer(), pd = outD.unsafeMutablePointer()
    // Forward: S = Q·Kᵀ and Y = P·V per row block; backward: dP = dY·Vᵀ, dV += Pᵀ·dY, dQ = dS·K, dK += dSᵀ·Q.
    let seconds = withExtendedLifetime((qkv, dy, probabilities)) {
      measure(budget: budget) {
        let base = qkv.unsafePointer, pdy = dy.unsafePointer, pp = probabilities.unsafePointer
        Parallel.forRanges(batch * heads, grain: 1) { range in
          let s = UnsafeMutablePointer<Float>.allocate(capacity: t * t)
          defer { s.deallocate() }
          for bh in range {
            let bi = bh / heads, h = bh % heads
            let q = base + bi * t * 3 * c + h * hs, k = q + c, v = q + 2 * c
            let p = pp + bh * t * t, gy = pdy + bi * t * c + h * hs
            let out = py + bi * t * c + h * hs
            let dq = pd + bi * t * 3 * c + h * hs, dk = dq + c, dv = dq + 2 * c
            var r0 = 0
            while r0 < t {
              let r1 = Swift.min(t, r0 + blk), m = r1 - r0
              BLAS.sgemmSerial(transposeA: false, transposeB: true, m: m, n: r1, k: hs, a: q + r0 * 3 * c, lda: 3 * c,
                               b: k, ldb: 3 * c, c: s, ldc: t)
              BLAS.sgemmSerial(transposeA: false, transposeB: false, m: m, n: hs, k: r1, a: p + r0 * t, lda: t,
                               b: v, ldb: 3 * c, c: out + r0 * c, ldc: c)
              BLAS.sgemmSerial(transposeA: false, transposeB: true, m: m, n: r1, k: hs, a: gy + r0 * c, lda: c,
                               b: v, ldb: 3 * c, c: s, ldc: r1)
              BLAS.sgemmSerial(transposeA: true, transposeB: false, m: r1, n: hs, k: m, a: p + r0 * t, lda: t,
                               b: gy + r0 * c, ldb: c, beta: 1, c: dv, ldc: 3 * c)
              BLAS.sgemmSerial(transposeA: false, transposeB: false, m: m, n: hs, k: r1, a: s, lda: r1,
                               b: k, ldb: 3 * c, c: dq + r0 * 3 * c, ldc: 3 * c)
              BLAS.sgemmSerial(transposeA: true, transposeB: false, m: r1, n: hs, k: m, a: s, lda: r1,
                               b: q + r0 * 3 * c, ldb: 3 * c, beta: 1, c: dk, ldc: 3 * c)
              r0 = r1
            }
          }
        }
      }
    }
    // The same causal FLOP count as the attention row, so the two fractions compare directly.
    let causalFlops = 6 * 2 * Double(batch * heads) * Double(t * (t + 1) / 2) * Double(hs)
    var blockFlops = 0.0  // what the blocked products actually multiply (whole blocks up to the diagonal)
    var r0 = 0
    while r0 < t {
      let r1 = Swift.min(t, r0 + blk)
      blockFlops += 6 * 2 * Double(r1 - r0) * Double(r1) * Double(hs)
      r0 = r1
    }
    blockFlops *= Double(batch * heads)
    let simd = simd4MultiplyAddRate()
    return [
      row("ceiling: attention's 6 products alone", seconds: seconds, flops: causalFlops,
          note: String(format: "sgemmSerial, row block %d, hs %d; %.0f%% of the blocked FLOPs are causal", blk, hs,
                       100 * causalFlops / blockFlops)),
      row("ceiling: SIMD4 mul+add, registers only", seconds: simd.seconds, flops: simd.flops,
          note: "\(Parallel.threadCount) threads; the Swift kernels' code generation"),
    ] + wideCeilings()
  }

  /// In AVX-512 builds (32 vector registers of 16 floats): the attention loops' own arithmetic (16 lanes, a
  /// multiply then an add), and the fused multiply-add that OpenBLAS's kernels use. The Swift kernels keep
  /// multiply-then-add so that every build gives the same bits; where a CPU issues 512-bit adds only on the
  /// ports that also multiply (Intel's), that halves their peak, and the first row is their ceiling. Other
  /// builds: no rows.
  func wideCeilings() -> [BenchResult] {
    #if GPTCIRCUITS_AVX512
    let sink = UnsafeMutablePointer<Float>.allocate(capacity: Parallel.threadCount)
    defer { sink.deallocate() }
    let n = BenchSuite.simd16Iterations
    let (wide, fused) = measureAlternating(budget: 2 * budget,
                                           { multiplyAddLoops(SIMD16<Float>.self, iterations: n, sink: sink) },
                                           { multiplyAddLoops(SIMD16<Float>.self, iterations: n, fused: true, sink: sink) })
    let flops = multiplyAddLoopsFlops(SIMD16<Float>.self, iterations: n)
    return [
      row("ceiling: SIMD16 mul+add, registers only", seconds: wide, flops: flops,
          note: "\(Parallel.threadCount) threads; the attention loops' arithmetic (AVX-512 build)"),
      row("ceiling: SIMD16 fused multiply-add", seconds: fused, flops: flops,
          note: String(format: "the CPU's FMA peak; alternating; mul+add reaches %.2f× of it", fused / wide)),
    ]
    #else
    return []
    #endif
  }

  #if GPTCIRCUITS_AVX512
  static let simd16Iterations = 2_000_000
  #endif

  /// FLOPs of one `multiplyAddLoops` call: 12 accumulators × V's lanes × (1 multiply + 1 add) per iteration,
  /// on every kernel thread.
  func multiplyAddLoopsFlops<V: SIMD>(_: V.Type, iterations n: Int) -> Double where V.Scalar == Float {
    Double(Parallel.threadCount) * Double(n) * 12 * Double(V.scalarCount) * 2
  }

  /// `multiplyAddLoop` of V on every kernel thread, each thread's sum into its entry of `sink`.
  func multiplyAddLoops<V: SIMD>(_: V.Type, iterations n: Int, fused: Bool = false, sink: UnsafeMutablePointer<Float>)
    where V.Scalar == Float {
    Parallel.forRanges(Parallel.threadCount, grain: 1) { range in
      for th in range { sink[th] = BenchSuite.multiplyAddLoop(V.self, n, seed: Float(th) + 1, fused: fused) }
    }
  }

  /// Seconds and FLOPs of a register-resident multiply-then-add loop over 12 independent `SIMD4<Float>`
  /// accumulators per thread, on every kernel thread.
  func simd4MultiplyAddRate() -> (seconds: Double, flops: Double) {
    let iterations = 4_000_000
    let sink = UnsafeMutablePointer<Float>.allocate(capacity: Parallel.threadCount)
    defer { sink.deallocate() }
    let seconds = measure(budget: budget) { multiplyAddLoops(SIMD4<Float>.self, iterations: iterations, sink: sink) }
    return (seconds, multiplyAddLoopsFlops(SIMD4<Float>.self, iterations: iterations))
  }

  /// The lanes' sum of 12 independent register-resident accumulators of type V after `n` steps of x ← x·a + b,
  /// each a multiply then an add, or (`fused`) one fused multiply-add. 12 chains cover a multiply's and an add's
  /// latency at two of each per cycle, with a and b still within the 16 SSE registers at 4 lanes.
  @inline(never)
  static func multiplyAddLoop<V: SIMD>(_: V.Type, _ n: Int, seed: Float, fused: Bool = false) -> Float where V.Scalar == Float {
    let a = V(repeating: 0.999_999), b = V(repeating: 1e-7 * seed)
    var x0 = V(repeating: seed), x1 = x0 + 1, x2 = x0 + 2, x3 = x0 + 3, x4 = x0 + 4, x5 = x0 + 5
    var x6 = x0 + 6, x7 = x0 + 7, x8 = x0 + 8, x9 = x0 + 9, x10 = x0 + 10, x11 = x0 + 11
    if fused {
      for _ in 0..<n {
        x0 = b.addingProduct(x0, a); x1 = b.addingProduct(x1, a); x2 = b.addingProduct(x2, a); x3 = b.addingProduct(x3, a)
        x4 = b.addingProduct(x4, a); x5 = b.addingProduct(x5, a); x6 = b.addingProduct(x6, a); x7 = b.addingProduct(x7, a)
        x8 = b.addingProduct(x8, a); x9 = b.addingProduct(x9, a); x10 = b.addingProduct(x10, a); x11 = b.addingProduct(x11, a)
      }
    } else {
      for _ in 0..<n {
        x0 = x0 * a + b; x1 = x1 * a + b; x2 = x2 * a + b; x3 = x3 * a + b; x4 = x4 * a + b; x5 = x5 * a + b
        x6 = x6 * a + b; x7 = x7 * a + b; x8 = x8 * a + b; x9 = x9 * a + b; x10 = x10 * a + b; x11 = x11 * a + b
      }
    }
    let s = ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7)) + ((x8 + x9) + (x10 + x11))
    return s.sum()
  }
}
