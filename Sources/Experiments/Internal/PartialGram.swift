import Foundation
import Tensor

/// One thread's sums of outer products of the gradient vectors it saw in one batch of one pair: for each
/// target feature j, M_j = Σ v vᵀ over its step-scaled, α-summed gradient vectors v (C values, in the
/// upstream SAE's input space), in Double, upper triangle packed (C(C+1)/2 values per target). Folded into
/// `SquaredAttributionSums` and cleared after every batch of every pair, so one set serves all pairs. Counted
/// as a work array in `TensorMemory`.
final class PartialGram {
  let targets: Int
  let c: Int
  /// Values per target: the packed upper triangle.
  let packedCount: Int
  /// [targets, C(C+1)/2]: row a of the triangle (columns a..<C) starts at a·C − a(a−1)/2.
  let buffer: UnsafeMutablePointer<Double>
  var touched: [Bool]
  /// [C, C]: one `add`'s product before it joins the packed triangle.
  private let square: UnsafeMutablePointer<Double>
  private var scratch: UnsafeMutablePointer<Double>
  private var scratchCapacity = 0

  init(targets: Int, c: Int) {
    self.targets = targets
    self.c = c
    packedCount = c * (c + 1) / 2
    buffer = .allocate(capacity: targets * packedCount)
    buffer.initialize(repeating: 0, count: targets * packedCount)
    touched = [Bool](repeating: false, count: targets)
    square = .allocate(capacity: c * c)
    scratch = .allocate(capacity: 1)
    TensorMemory.workArrayChanged(by: 2 * (targets * packedCount + c * c))
    _ = BLAS.threadCount  // single-threaded OpenBLAS from here on
  }

  deinit {
    TensorMemory.workArrayChanged(by: -2 * (targets * packedCount + c * c + scratchCapacity))
    buffer.deallocate()
    square.deallocate()
    scratch.deallocate()
  }

  /// M_target += Σ_r rows[r] rows[r]ᵀ over `count` contiguous rows of C values.
  func add(target: Int, rows: UnsafePointer<Float>, count: Int) {
    guard count > 0 else { return }
    let n = count * c
    if n > scratchCapacity {
      scratch.deallocate()
      let grown = Swift.max(n, 2 * scratchCapacity)
      TensorMemory.workArrayChanged(by: 2 * (grown - scratchCapacity))
      scratchCapacity = grown
      scratch = .allocate(capacity: scratchCapacity)
    }
    for e in 0..<n { scratch[e] = Double(rows[e]) }
    BLAS.dsyrkUpperTransposed(n: c, k: count, a: scratch, lda: c, beta: 0, c: square, ldc: c)
    var dst = buffer + target * packedCount
    for a in 0..<c {
      let src = square + a * c
      for b in a..<c { dst[b - a] += src[b] }
      dst += c - a
    }
    touched[target] = true
  }

  /// The packed triangles of the touched targets (target indices, then their values one triangle after another),
  /// cleared here: one batch's share for another process to `load` and fold.
  func export() -> (targets: [Int32], values: [Double]) {
    var list: [Int32] = [], values: [Double] = []
    for j in 0..<targets where touched[j] {
      list.append(Int32(j))
      let src = buffer + j * packedCount
      values.append(contentsOf: UnsafeBufferPointer(start: src, count: packedCount))
      src.update(repeating: 0, count: packedCount)
      touched[j] = false
    }
    return (list, values)
  }

  /// Adds what `export` returned (into a cleared partial, this restores the exported state exactly).
  func load(targets list: [Int32], values: [Double]) {
    precondition(values.count == list.count * packedCount, "partial Gram of \(values.count) values for \(list.count) targets")
    for (k, j) in list.enumerated() {
      let dst = buffer + Int(j) * packedCount
      for e in 0..<packedCount { dst[e] += values[k * packedCount + e] }
      touched[Int(j)] = true
    }
  }

  /// Adds target j's packed triangle into the full symmetric matrix `m` [C, C] and clears it.
  func drain(target j: Int, into m: UnsafeMutablePointer<Double>) {
    var src = buffer + j * packedCount
    for a in 0..<c {
      for b in a..<c {
        m[a * c + b] += src[b - a]
        if b != a { m[b * c + a] += src[b - a] }
      }
      src += c - a
    }
    (buffer + j * packedCount).update(repeating: 0, count: packedCount)
  }
}
