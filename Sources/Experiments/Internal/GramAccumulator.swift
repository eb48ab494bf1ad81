import Foundation
import Tensor

/// Sums of squared attributions kept in the activation space: for each target feature j the C×C matrix
/// M_j = Σ v vᵀ over the gradient vectors v (in the upstream SAE's input space, already scaled by the IG
/// step length). The squared attribution of source i is then d_iᵀ M_j d_i with d_i = W_dec[i], which costs
/// C² per gradient vector instead of F·C. Products and sums are in Double: the quadratic form cancels when
/// d_i is nearly orthogonal to every v, and float rounding of M would leave an error of √ε·|d_i||v| in the
/// attribution (tiny attributions would come out as 0 or noise); in Double the error is below the float
/// rounding of the gradients themselves.
final class GramAccumulator {
  let targets: Int
  let c: Int
  /// Upper triangles, [targets, C, C], in Double.
  private var total: [Double]
  private var used: [Bool]

  init(targets: Int, c: Int) {
    self.targets = targets
    self.c = c
    total = [Double](repeating: 0, count: targets * c * c)
    used = [Bool](repeating: false, count: targets)
    _ = BLAS.threadCount  // single-threaded OpenBLAS from here on
  }

  /// A per-thread float accumulator to be folded into this one.
  func makePartial() -> PartialGram { PartialGram(targets: targets, c: c) }

  /// Adds a partial accumulator into the total and clears it.
  func fold(_ partial: PartialGram) {
    let cc = c * c
    total.withUnsafeMutableBufferPointer { tot in
      for j in 0..<targets where partial.touched[j] {
        let src = partial.buffer + j * cc, dst = tot.baseAddress! + j * cc
        for e in 0..<cc { dst[e] += src[e] }
        memset(src, 0, cc * MemoryLayout<Double>.stride)
        partial.touched[j] = false
        used[j] = true
      }
    }
  }

  /// sqrt(d_iᵀ M_j d_i) for every source i (rows of `decoder` [F0, C]) and target j: [F0, targets].
  func attributions(decoder: Tensor) -> Tensor {
    let f0 = decoder.shape[0]
    precondition(decoder.shape == [f0, c], "decoder \(decoder.shape) does not match C = \(c)")
    let d = decoder.scalars.map(Double.init)
    var out = Tensor(zeros: [f0, targets])
    let po = out.unsafeMutablePointer()
    let cc = c * c, n = c, t = targets
    total.withUnsafeBufferPointer { tot in
      d.withUnsafeBufferPointer { pd in
        Parallel.forRanges(targets, grain: 1) { range in
          let m = UnsafeMutablePointer<Double>.allocate(capacity: cc)
          let q = UnsafeMutablePointer<Double>.allocate(capacity: f0 * n)
          defer { m.deallocate(); q.deallocate() }
          for j in range where used[j] {
            let src = tot.baseAddress! + j * cc
            for a in 0..<n {
              for b in a..<n {
                m[a * n + b] = src[a * n + b]
                m[b * n + a] = src[a * n + b]
              }
            }
            BLAS.dgemm(m: f0, n: n, k: n, a: pd.baseAddress!, lda: n, b: m, ldb: n, c: q, ldc: n)
            for i in 0..<f0 {
              var s = 0.0
              let qi = q + i * n, di = pd.baseAddress! + i * n
              for e in 0..<n { s += qi[e] * di[e] }
              po[i * t + j] = Float(Swift.max(s, 0).squareRoot())
            }
          }
        }
      }
    }
    return out
  }
}

/// A thread's accumulator of `GramAccumulator` (upper triangles only).
final class PartialGram {
  let targets: Int
  let c: Int
  let buffer: UnsafeMutablePointer<Double>
  var touched: [Bool]
  private var scratch: UnsafeMutablePointer<Double>
  private var scratchCapacity = 0

  init(targets: Int, c: Int) {
    self.targets = targets
    self.c = c
    buffer = .allocate(capacity: targets * c * c)
    memset(buffer, 0, targets * c * c * MemoryLayout<Double>.stride)
    touched = [Bool](repeating: false, count: targets)
    scratch = .allocate(capacity: 1)
  }

  deinit {
    buffer.deallocate()
    scratch.deallocate()
  }

  /// M_target += Σ_r rows[r] rows[r]ᵀ over `count` contiguous rows of C values.
  func add(target: Int, rows: UnsafePointer<Float>, count: Int) {
    guard count > 0 else { return }
    let n = count * c
    if n > scratchCapacity {
      scratch.deallocate()
      scratchCapacity = Swift.max(n, 2 * scratchCapacity)
      scratch = .allocate(capacity: scratchCapacity)
    }
    for e in 0..<n { scratch[e] = Double(rows[e]) }
    BLAS.dsyrkUpperTransposed(n: c, k: count, a: scratch, lda: c, c: buffer + target * c * c, ldc: c)
    touched[target] = true
  }
}
