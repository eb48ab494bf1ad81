import Foundation

extension Tensor {
  /// Slices `indices[i]` along `axis`: result shape = shape with `axis` replaced by `indices.shape`.
  public func indexSelect(axis: Int, _ indices: IntTensor) -> Tensor {
    let (outer, n, inner, ax) = reductionView(axis)
    var newShape = Array(shape[..<ax])
    newShape += indices.shape
    newShape += shape[(ax + 1)...]
    var out = Tensor(uninitialized: newShape)
    let po = out.unsafeMutablePointer()
    let m = indices.count
    withExtendedLifetime(self) {
      let p = unsafePointer
      indices.scalars.withUnsafeBufferPointer { ix in
        for i in 0..<m { precondition(ix[i] >= 0 && Int(ix[i]) < n, "index \(ix[i]) out of range 0..<\(n) on axis \(ax) of \(shape)") }
        Parallel.forRanges(outer * m, grain: Swift.max(1, 16384 / Swift.max(inner, 1))) { r in
          for item in r {
            let o = item / m, i = item % m
            (po + item * inner).update(from: p + (o * n + Int(ix[i])) * inner, count: inner)
          }
        }
      }
    }
    return out
  }

  /// Adjoint of `indexSelect`: a tensor of `shape` (axis length `n`) with each slice of `self` added at its index.
  public func indexAdd(axis: Int, _ indices: IntTensor, length n: Int) -> Tensor {
    let ax = Shape.axis(axis, rank: rank - indices.rank + 1)
    let outer = Shape.count(Array(shape[..<ax]))
    let m = indices.count
    let inner = count / Swift.max(outer * m, 1)
    var outShape = Array(shape[..<ax])
    outShape.append(n)
    outShape += shape[(ax + indices.rank)...]
    var out = Tensor(zeros: outShape)
    let po = out.unsafeMutablePointer()
    withExtendedLifetime(self) {
      let p = unsafePointer
      indices.scalars.withUnsafeBufferPointer { ix in
        // Parallel over the inner (feature) dimension so that no two threads touch one element.
        Parallel.forRanges(inner, grain: Swift.max(8, inner / Parallel.threadCount)) { cols in
          for o in 0..<outer {
            for i in 0..<m {
              let dst = po + (o * n + Int(ix[i])) * inner, src = p + (o * m + i) * inner
              for j in cols { dst[j] += src[j] }
            }
          }
        }
      }
    }
    return out
  }

  /// torch.gather: out[…, j, …] = self[…, indices[…, j, …], …] along `axis`; `indices` has this tensor's rank
  /// and matches its shape on every other axis.
  public func gather(axis: Int, _ indices: IntTensor) -> Tensor {
    let (outer, n, inner, ax) = reductionView(axis)
    precondition(indices.rank == rank, "gather: indices \(indices.shape) must have the rank of \(shape)")
    for d in 0..<rank where d != ax {
      precondition(indices.shape[d] == shape[d], "gather: indices \(indices.shape) do not match \(shape) off axis \(ax)")
    }
    let m = indices.shape[ax]
    var out = Tensor(uninitialized: indices.shape)
    let po = out.unsafeMutablePointer()
    withExtendedLifetime(self) {
      let p = unsafePointer
      indices.scalars.withUnsafeBufferPointer { ix in
        for o in 0..<outer {
          for i in 0..<m {
            for j in 0..<inner {
              let k = Int(ix[(o * m + i) * inner + j])
              precondition(k >= 0 && k < n, "gather index \(k) out of range 0..<\(n)")
              po[(o * m + i) * inner + j] = p[(o * n + k) * inner + j]
            }
          }
        }
      }
    }
    return out
  }

  /// torch.scatter_add: a copy of self with `source[…, j, …]` added at `indices[…, j, …]` along `axis`.
  public func scatterAdd(axis: Int, _ indices: IntTensor, _ source: Tensor) -> Tensor {
    let (outer, n, inner, ax) = reductionView(axis)
    precondition(indices.shape == source.shape && indices.rank == rank,
                 "scatterAdd: indices \(indices.shape) and source \(source.shape) must match and have rank \(rank)")
    let m = indices.shape[ax]
    var out = self
    let po = out.unsafeMutablePointer()
    withExtendedLifetime(source) {
      let ps = source.unsafePointer
      indices.scalars.withUnsafeBufferPointer { ix in
        for o in 0..<outer {
          for i in 0..<m {
            for j in 0..<inner {
              let k = Int(ix[(o * m + i) * inner + j])
              precondition(k >= 0 && k < n, "scatterAdd index \(k) out of range 0..<\(n)")
              po[(o * n + k) * inner + j] += ps[(o * m + i) * inner + j]
            }
          }
        }
      }
    }
    return out
  }

  /// The k largest values along the last axis, in descending order, and their indices. Ties go to the lower
  /// index; NaN ranks above every number.
  public func topK(_ k: Int) -> (values: Tensor, indices: IntTensor) {
    let n = shape.last ?? 1
    precondition(k >= 1 && k <= n, "top-k: k = \(k) outside 1...\(n) for shape \(shape)")
    let rows = count / n
    var outShape = shape
    outShape[outShape.count - 1] = k
    var values = Tensor(uninitialized: outShape)
    var idx = [Int32](repeating: 0, count: rows * k)
    let pv = values.unsafeMutablePointer()
    withExtendedLifetime(self) {
      let p = unsafePointer
      idx.withUnsafeMutableBufferPointer { pi in
        let piBase = pi.baseAddress!
        Parallel.forRanges(rows, grain: Swift.max(1, 4096 / n)) { r in
          for row in r {
            TopKKernel.selectRow(p + row * n, n, k, pv + row * k, piBase + row * k)
          }
        }
      }
    }
    return (values, IntTensor(shape: outShape, scalars: idx))
  }
}

/// Per-row top-k selection.
public enum TopKKernel {
  /// `a` ranks before `b` (greater value, NaN first, ties by lower index).
  @inline(__always) static func before(_ a: Float, _ ia: Int32, _ b: Float, _ ib: Int32) -> Bool {
    if a.isNaN { return !b.isNaN || ia < ib }
    if b.isNaN { return false }
    return a > b || (a == b && ia < ib)
  }

  /// Writes the k best (value, index) pairs of x[0..<n] in rank order.
  ///
  /// Fast path (k ≤ 32, n ≥ 8·⌈k/8⌉): lane-wise maxima of ⌈k/8⌉ running SIMD accumulators give at least k
  /// distinct elements of the row; the k-th largest of them, L, is a lower bound of the row's k-th largest value,
  /// so elements below L are skipped without a comparison against the candidate list. After k candidates are
  /// held, blocks of 8 that cannot enter (all ≤ the current k-th value) are skipped with one comparison.
  /// NaN ranks above every number and is never skipped.
  @inline(__always)
  public static func selectRow(_ x: UnsafePointer<Float>, _ n: Int, _ k: Int,
                               _ vals: UnsafeMutablePointer<Float>, _ idx: UnsafeMutablePointer<Int32>) {
    var lowerBound = -Float.infinity
    let lanes = 4  // 32 candidates: a tighter bound than the ⌈k/8⌉ lanes that suffice
    if VectorMath.vectorized && k <= 32 && n >= 8 * lanes * 2 {
      lowerBound = laneBound(x, n, k, lanes)
    }
    var filled = 0
    var j = 0
    while j < n {
      if VectorMath.vectorized && j + 8 <= n {
        let v = VectorMath.load(x + j)
        let enters: SIMDMask<SIMD8<Int32>>
        if filled == k {
          // A later index never wins a tie, so only strictly larger values (or NaN) can enter.
          enters = (v .> VectorMath.V(repeating: vals[k - 1])) .| (v .!= v)
        } else {
          enters = (v .>= VectorMath.V(repeating: lowerBound)) .| (v .!= v)
        }
        if !any(enters) {
          j += 8
          continue
        }
      }
      let v = x[j], ij = Int32(j)
      j += 1
      if filled == k {
        if !before(v, ij, vals[k - 1], idx[k - 1]) { continue }
        filled -= 1
      } else if v < lowerBound {
        continue
      }
      var pos = filled
      while pos > 0 && before(v, ij, vals[pos - 1], idx[pos - 1]) {
        vals[pos] = vals[pos - 1]
        idx[pos] = idx[pos - 1]
        pos -= 1
      }
      vals[pos] = v
      idx[pos] = ij
      filled += 1
    }
  }

  /// The k-th largest of the 8·`lanes` lane maxima of `lanes` interleaved accumulators over the full blocks
  /// of x (NaN lanes ignored; −∞ when fewer than k finite maxima exist).
  @inline(__always)
  static func laneBound(_ x: UnsafePointer<Float>, _ n: Int, _ k: Int, _ lanes: Int) -> Float {
    let step = 8 * lanes
    var acc = (VectorMath.load(x), lanes > 1 ? VectorMath.load(x + 8) : VectorMath.load(x),
               lanes > 2 ? VectorMath.load(x + 16) : VectorMath.load(x), lanes > 3 ? VectorMath.load(x + 24) : VectorMath.load(x))
    var b = step
    while b + step <= n {
      acc.0 = VectorMath.max(acc.0, VectorMath.load(x + b))
      if lanes > 1 { acc.1 = VectorMath.max(acc.1, VectorMath.load(x + b + 8)) }
      if lanes > 2 { acc.2 = VectorMath.max(acc.2, VectorMath.load(x + b + 16)) }
      if lanes > 3 { acc.3 = VectorMath.max(acc.3, VectorMath.load(x + b + 24)) }
      b += step
    }
    // k-th largest of the 8·lanes candidates (partial insertion into a descending list of k).
    var top = (Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0),
               Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0),
               Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0),
               Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0))
    return withUnsafeMutableBytes(of: &top) { raw -> Float in
      let list = raw.baseAddress!.assumingMemoryBound(to: Float.self)
      var count = 0
      func offer(_ v: Float) {
        guard !v.isNaN else { return }
        if count == k && v <= list[k - 1] { return }
        var pos = count < k ? count : k - 1
        while pos > 0 && list[pos - 1] < v { list[pos] = list[pos - 1]; pos -= 1 }
        list[pos] = v
        if count < k { count += 1 }
      }
      for l in 0..<8 {
        offer(acc.0[l])
        if lanes > 1 { offer(acc.1[l]) }
        if lanes > 2 { offer(acc.2[l]) }
        if lanes > 3 { offer(acc.3[l]) }
      }
      return count == k ? list[k - 1] : -Float.infinity
    }
  }

  /// Plain reference selection (stable sort of all entries by rank), for tests.
  public static func referenceSelectRow(_ x: [Float], _ k: Int) -> (values: [Float], indices: [Int32]) {
    let order = x.indices.sorted { before(x[$0], Int32($0), x[$1], Int32($1)) }.prefix(k)
    return (order.map { x[$0] }, order.map { Int32($0) })
  }
}
