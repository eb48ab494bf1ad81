import Foundation

/// A factor G [C, r] with G·Gᵀ = M for a symmetric positive semidefinite M [C, C] (Double), by Cholesky
/// with diagonal pivoting (LAPACK's dpstrf rule): the largest remaining diagonal is eliminated first and
/// the factorisation stops at rank r once every remaining diagonal is ≤ C·ε·max diag(M). Then every
/// entry of the remainder is below that bound too, so dᵀMd = |Gᵀd|² up to Double rounding of M, even when
/// M is singular (a target with fewer gradient vectors than C) or zero (r = 0).
enum PivotedCholesky {
  /// Factors `m` [n, n] (full symmetric; overwritten) in place: on return, for the rank r returned, row a of
  /// the lower triangle's first r columns is row `perm[a]` of G, i.e. G[perm[a], k] = m[a, k] for k ≤ a,
  /// k < r (0 for k > a). `column` is scratch of n values.
  static func factor(_ m: UnsafeMutablePointer<Double>, n: Int, perm: UnsafeMutablePointer<Int>,
                     column: UnsafeMutablePointer<Double>) -> Int {
    var maxDiag = 0.0
    for i in 0..<n {
      perm[i] = i
      maxDiag = Swift.max(maxDiag, m[i * n + i])
    }
    guard maxDiag > 0 else { return 0 }
    let tol = Double(n) * Double.ulpOfOne * maxDiag
    for k in 0..<n {
      // Pivot: the largest diagonal of the remainder, swapped into place (rows and columns).
      var q = k
      for i in (k + 1)..<n where m[i * n + i] > m[q * n + q] { q = i }
      if m[q * n + q] <= tol { return k }
      if q != k {
        swapRows(m, n, k, q)
        for i in 0..<n { m.swapAt(i * n + k, i * n + q) }
        let t = perm[k]; perm[k] = perm[q]; perm[q] = t
      }
      let lkk = m[k * n + k].squareRoot()
      m[k * n + k] = lkk
      let r = 1 / lkk
      let rest = n - k - 1
      for i in (k + 1)..<n {
        m[i * n + k] *= r
        column[i - k - 1] = m[i * n + k]
      }
      // Remainder −= l·lᵀ over rows and columns k+1..<n.
      for i in 0..<rest {
        let li = column[i], row = m + (k + 1 + i) * n + k + 1
        for j in 0..<rest { row[j] -= li * column[j] }
      }
    }
    return n
  }

  /// Plain Cholesky of `m` [n, n] (full symmetric; its lower triangle is overwritten by L, M = L·Lᵀ) when every
  /// pivot stays above the pivoted rule's bound (then M has full rank and no pivoting is needed: each row of
  /// L has the norm √m_aa, so the backward error is that of the pivoted factor); false as soon as one does
  /// not, with `m` spoilt (the caller falls back to `factor`).
  static func factorFullRank(_ m: UnsafeMutablePointer<Double>, n: Int) -> Bool {
    var maxDiag = 0.0
    for i in 0..<n { maxDiag = Swift.max(maxDiag, m[i * n + i]) }
    guard maxDiag > 0 else { return false }
    let tol = Double(n) * Double.ulpOfOne * maxDiag
    for k in 0..<n {
      let rowK = m + k * n
      // Row k of L: l_kj = (m_kj − Σ_{p<j} l_kp l_jp) / l_jj for j < k, then the pivot.
      for j in 0..<k {
        let rowJ = m + j * n
        rowK[j] = (rowK[j] - dot(rowK, rowJ, j)) / rowJ[j]
      }
      let d = rowK[k] - dot(rowK, rowK, k)
      if !(d > tol) { return false }
      rowK[k] = d.squareRoot()
    }
    return true
  }

  /// Σ_{p<count} a[p]·b[p], in two sets of four lanes.
  @inline(__always)
  private static func dot(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ count: Int) -> Double {
    var acc = SIMD4<Double>(repeating: 0), acc2 = acc
    var p = 0
    while p + 8 <= count {
      acc += UnsafeRawPointer(a + p).loadUnaligned(as: SIMD4<Double>.self)
        * UnsafeRawPointer(b + p).loadUnaligned(as: SIMD4<Double>.self)
      acc2 += UnsafeRawPointer(a + p + 4).loadUnaligned(as: SIMD4<Double>.self)
        * UnsafeRawPointer(b + p + 4).loadUnaligned(as: SIMD4<Double>.self)
      p += 8
    }
    if p + 4 <= count {
      acc += UnsafeRawPointer(a + p).loadUnaligned(as: SIMD4<Double>.self)
        * UnsafeRawPointer(b + p).loadUnaligned(as: SIMD4<Double>.self)
      p += 4
    }
    var s = (acc + acc2).sum()
    while p < count { s += a[p] * b[p]; p += 1 }
    return s
  }

  private static func swapRows(_ m: UnsafeMutablePointer<Double>, _ n: Int, _ a: Int, _ b: Int) {
    let ra = m + a * n, rb = m + b * n
    for j in 0..<n {
      let t = ra[j]; ra[j] = rb[j]; rb[j] = t
    }
  }
}

private extension UnsafeMutablePointer where Pointee == Double {
  func swapAt(_ a: Int, _ b: Int) {
    let t = self[a]; self[a] = self[b]; self[b] = t
  }
}
