import Testing
import Tensor
@testable import SAE

/// `JacobianMicroKernels` against plain loops that follow its documented summation order, bit for bit: `abT`'s
/// 16 lane-wise partial sums reduced by halves then the scalar tail (a plain in-order sum in builds without
/// vector loops), and `combine`'s in-order terms per output entry.
@Suite struct JacobianMicroKernelTests {
  /// Deterministic values in [-1, 1) with varied exponents, so a different summation order shows in the bits.
  static func values(_ count: Int, seed: UInt64) -> [Float] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<count).map { _ in
      state ^= state << 13; state ^= state >> 7; state ^= state << 17
      let unit = Float(state >> 40) / Float(1 << 24)
      return (unit * 2 - 1) * Float(1 << (state & 7)) / 8
    }
  }

  /// The dot product in `abT`'s order.
  static func orderedDot(_ u: ArraySlice<Float>, _ v: ArraySlice<Float>) -> Float {
    let n = u.count, ub = u.startIndex, vb = v.startIndex
    var m = 0
    var sum: Float = 0
    if VectorMath.vectorized {
      var lanes = [Float](repeating: 0, count: 16)
      while m + 16 <= n {
        for l in 0..<16 { lanes[l] += u[ub + m + l] * v[vb + m + l] }
        m += 16
      }
      var width = 16
      while width > 1 {
        width /= 2
        for l in 0..<width { lanes[l] = lanes[l] + lanes[l + width] }
      }
      sum = lanes[0]
    }
    while m < n { sum += u[ub + m] * v[vb + m]; m += 1 }
    return sum
  }

  static func rowPointers(_ base: UnsafeMutablePointer<Float>, rows: Int, width: Int) -> [UnsafePointer<Float>] {
    (0..<rows).map { UnsafePointer(base + $0 * width) }
  }

  /// `combine` on row-major x [count, width] into out [m, width] (in place), coefficients read at
  /// coef[r·rowStep + i·step].
  static func runCombine(_ coef: [Float], rowStep: Int, step: Int, _ x: [Float], count: Int, _ out: inout [Float], m: Int,
                         width: Int, accumulate: Bool) {
    var x = x
    var scratch = [Float](repeating: 0, count: m * count)
    x.withUnsafeMutableBufferPointer { xp in
      let xRows = rowPointers(xp.baseAddress!, rows: count, width: width)
      out.withUnsafeMutableBufferPointer { op in
        let outRows = (0..<m).map { op.baseAddress! + $0 * width }
        coef.withUnsafeBufferPointer { cp in
          xRows.withUnsafeBufferPointer { xr in
            outRows.withUnsafeBufferPointer { orows in
              scratch.withUnsafeMutableBufferPointer { sp in
                JacobianMicroKernels.combine(cp.baseAddress!, rowStep: rowStep, step: step, xr.baseAddress!, count: count,
                                             orows.baseAddress!, m: m, width: width, accumulate: accumulate,
                                             coefficients: sp.baseAddress!)
              }
            }
          }
        }
      }
    }
  }

  @Test(arguments: [(256, 10, 7), (320, 7, 10), (37, 3, 5), (15, 1, 3), (64, 5, 1), (17, 2, 2)])
  func abTFollowsItsSummationOrder(_ shape: (Int, Int, Int)) {
    let (width, mOut, mIn) = shape
    var a = Self.values(mOut * width, seed: 1), b = Self.values(mIn * width, seed: 2)
    var j = [Float](repeating: .nan, count: mOut * mIn)
    a.withUnsafeMutableBufferPointer { ap in
      b.withUnsafeMutableBufferPointer { bp in
        let aRows = Self.rowPointers(ap.baseAddress!, rows: mOut, width: width)
        let bRows = Self.rowPointers(bp.baseAddress!, rows: mIn, width: width)
        aRows.withUnsafeBufferPointer { ar in
          bRows.withUnsafeBufferPointer { br in
            j.withUnsafeMutableBufferPointer { jp in
              JacobianMicroKernels.abT(ar.baseAddress!, mOut: mOut, br.baseAddress!, mIn: mIn, width: width, jp.baseAddress!)
            }
          }
        }
      }
    }
    var mismatches = 0
    for r in 0..<mOut {
      for c in 0..<mIn {
        let expected = Self.orderedDot(a[(r * width)..<((r + 1) * width)], b[(c * width)..<((c + 1) * width)])
        if j[r * mIn + c].bitPattern != expected.bitPattern { mismatches += 1 }
      }
    }
    #expect(mismatches == 0, "abT at width \(width), \(mOut)×\(mIn): \(mismatches) entries differ from the documented order")
  }

  @Test(arguments: [(256, 10, 7, false), (320, 7, 10, true), (37, 3, 5, true), (15, 1, 3, false), (80, 4, 1, true),
                    (129, 5, 2, false)])
  func combineAddsTermsInRowOrder(_ shape: (Int, Int, Int, Bool)) {
    let (width, m, count, accumulate) = shape
    // Coefficients laid out with rowStep = count + 2 and step = 1, so the gather skips entries.
    let rowStep = count + 2
    let coef = Self.values(m * rowStep, seed: 3)
    let x = Self.values(count * width, seed: 4)
    let start = Self.values(m * width, seed: 5)
    var out = start
    Self.runCombine(coef, rowStep: rowStep, step: 1, x, count: count, &out, m: m, width: width, accumulate: accumulate)
    var mismatches = 0
    for r in 0..<m {
      for col in 0..<width {
        var t: Float = accumulate ? start[r * width + col] : 0
        for i in 0..<count { t += coef[r * rowStep + i] * x[i * width + col] }
        if out[r * width + col].bitPattern != t.bitPattern { mismatches += 1 }
      }
    }
    #expect(mismatches == 0, "combine at width \(width), m \(m), \(count) rows: \(mismatches) entries differ from in-order sums")
  }

  /// The transposed gather (rowStep 1, step k_in) that dB = Sᵀ·A uses.
  @Test func combineTransposedGather() {
    let width = 48, m = 3, count = 4
    let coef = Self.values(count * m, seed: 6)  // [count, m]: entry (r, i) at i·m + r
    let x = Self.values(count * width, seed: 7)
    var out = [Float](repeating: 0, count: m * width)
    Self.runCombine(coef, rowStep: 1, step: m, x, count: count, &out, m: m, width: width, accumulate: false)
    var mismatches = 0
    for r in 0..<m {
      for col in 0..<width {
        var t: Float = 0
        for i in 0..<count { t += coef[i * m + r] * x[i * width + col] }
        if out[r * width + col].bitPattern != t.bitPattern { mismatches += 1 }
      }
    }
    #expect(mismatches == 0)
  }
}
