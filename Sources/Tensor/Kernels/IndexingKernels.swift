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
  /// Fast path (optimised builds, k ≤ 32, n ≥ 64): the lane-wise maxima of 4 running SIMD accumulators give
  /// 32 distinct elements of the row; the k-th largest of them, L, is a lower bound of the row's k-th largest
  /// value. The entries ≥ L (usually a few more than k) are gathered branch-free and ranked against each other.
  /// A row holding a NaN or more than `maxCandidates` entries ≥ L takes the scan: elements below L are skipped
  /// without a comparison against the candidate list, and once k candidates are held, blocks of 8 that cannot
  /// enter (all ≤ the current k-th value) are skipped with one comparison. NaN ranks above every number.
  @inline(__always)
  public static func selectRow(_ x: UnsafePointer<Float>, _ n: Int, _ k: Int,
                               _ vals: UnsafeMutablePointer<Float>, _ idx: UnsafeMutablePointer<Int32>) {
    var lowerBound = -Float.infinity
    if VectorMath.vectorized && k <= 32 && n >= 64 {
      lowerBound = laneBound(x, n, k)
      if lowerBound > -Float.infinity {
        let done = withUnsafeTemporaryAllocation(of: Int32.self, capacity: candidateCapacity) { ci in
          withUnsafeTemporaryAllocation(of: Float.self, capacity: candidateCapacity) { cv in
            guard let m = gatherCandidates(x, n, bound: lowerBound, indices: ci.baseAddress!, values: cv.baseAddress!),
                  m >= k else { return false }
            rankCandidates(indices: ci.baseAddress!, values: cv.baseAddress!, count: m, k: k, vals, idx)
            return true
          }
        }
        if done { return }
      }
    }
    scan(x, n, k, lowerBound: lowerBound, vals, idx)
  }

  /// The most candidates (entries ≥ the lower bound) the gathered fast path ranks.
  public static let maxCandidates = 64
  /// Capacity of the candidate buffers `gatherCandidates` fills: `maxCandidates` plus one block of 8.
  public static let candidateCapacity = 72

  /// Positions of the set bits of each 8-bit mask in ascending order (the rest 0): the compress table.
  nonisolated(unsafe) static let compressTable: UnsafeMutablePointer<SIMD8<Int32>> = {
    let table = UnsafeMutablePointer<SIMD8<Int32>>.allocate(capacity: 256)
    for mask in 0..<256 {
      var lanes = SIMD8<Int32>()
      var count = 0
      for bit in 0..<8 where mask & (1 << bit) != 0 { lanes[count] = Int32(bit); count += 1 }
      table[mask] = lanes
    }
    return table
  }()

  /// The number of set bits of each 8-bit mask (baseline x86-64 has no popcount instruction).
  nonisolated(unsafe) static let bitCounts: UnsafeMutablePointer<UInt8> = {
    let table = UnsafeMutablePointer<UInt8>.allocate(capacity: 256)
    for mask in 0..<256 { table[mask] = UInt8(mask.nonzeroBitCount) }
    return table
  }()

  /// Indices (ascending) and values of the entries of x[0..<n] that are ≥ `bound`, written to `indices` and
  /// `values` (each of capacity `candidateCapacity`; values are padded with −∞ to a multiple of 8). Returns their
  /// count, or nil when the row holds a NaN or more than `maxCandidates` such entries. `bound` must not be −∞.
  ///
  /// Branch-free per block of 8: the comparison's bit mask selects the block's ascending positions from
  /// `compressTable`, all 8 are stored and the count advances by the mask's population.
  @inline(__always)
  public static func gatherCandidates(_ x: UnsafePointer<Float>, _ n: Int, bound: Float,
                                      indices: UnsafeMutablePointer<Int32>, values: UnsafeMutablePointer<Float>) -> Int? {
    let table = compressTable, counts = bitCounts
    let b = VectorMath.V(repeating: bound)
    var nan = 0
    var m = 0
    var j = 0
    while j + 8 <= n {
      let v = VectorMath.load(x + j)
      let bits = VectorMath.bitsAtLeast(v, b)
      nan |= VectorMath.bitsNaN(v)
      UnsafeMutableRawPointer(indices + m).storeBytes(of: table[bits] &+ Int32(j), as: SIMD8<Int32>.self)
      m += Int(counts[bits])
      if m > maxCandidates { return nil }
      j += 8
    }
    if nan != 0 { return nil }
    while j < n {
      let v = x[j]
      if v.isNaN { return nil }
      if v >= bound {
        if m == maxCandidates { return nil }
        indices[m] = Int32(j)
        m += 1
      }
      j += 1
    }
    for i in 0..<m { values[i] = x[Int(indices[i])] }
    var i = m
    while i & 7 != 0 { values[i] = -.infinity; i += 1 }
    return m
  }

  /// The k best of `count` gathered candidates (ascending indices, NaN-free values padded with −∞ to a multiple
  /// of 8, count ≥ k), in rank order: each candidate's rank is the number of candidates before it (greater
  /// value, or equal value and lower index).
  @inline(__always)
  public static func rankCandidates(indices: UnsafePointer<Int32>, values: UnsafePointer<Float>, count m: Int, k: Int,
                                    _ vals: UnsafeMutablePointer<Float>, _ idx: UnsafeMutablePointer<Int32>) {
    let chunks = (m + 7) / 8
    let counts = bitCounts
    for i in 0..<m {
      let v = values[i]
      let vi = VectorMath.V(repeating: v)
      var rank = 0
      for c in 0..<chunks {
        let w = VectorMath.load(values + 8 * c)
        // Equal values rank by index: only the candidates at positions below i (bits below i − 8c) are ahead.
        let lower = (1 << Swift.min(8, Swift.max(0, i - 8 * c))) - 1
        rank += Int(counts[VectorMath.bitsGreater(w, vi) | (VectorMath.bitsEqual(w, vi) & lower)])
      }
      if rank < k {
        vals[rank] = v
        idx[rank] = indices[i]
      }
    }
  }

  /// The selection by one pass over the row with insertion into the ranked list, skipping elements below
  /// `lowerBound` (−∞: none) and, once k are held, blocks of 8 that cannot enter.
  @inline(__always)
  public static func scan(_ x: UnsafePointer<Float>, _ n: Int, _ k: Int, lowerBound: Float,
                          _ vals: UnsafeMutablePointer<Float>, _ idx: UnsafeMutablePointer<Int32>) {
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

  /// The k-th largest of the 32 lane maxima of 4 interleaved accumulators over the full blocks of 32
  /// elements of x (NaN lanes ignored; −∞ when fewer than k finite maxima exist).
  @inline(__always)
  static func laneBound(_ x: UnsafePointer<Float>, _ n: Int, _ k: Int) -> Float {
    var acc = (VectorMath.load(x), VectorMath.load(x + 8), VectorMath.load(x + 16), VectorMath.load(x + 24))
    var b = 32
    while b + 32 <= n {
      acc.0 = VectorMath.max(acc.0, VectorMath.load(x + b))
      acc.1 = VectorMath.max(acc.1, VectorMath.load(x + b + 8))
      acc.2 = VectorMath.max(acc.2, VectorMath.load(x + b + 16))
      acc.3 = VectorMath.max(acc.3, VectorMath.load(x + b + 24))
      b += 32
    }
    return boundOfLaneMaxima(acc, k)
  }

  /// The k-th largest (k ≤ 32) of the 32 lane maxima held in four accumulators, NaN lanes ignored, or −∞
  /// when fewer than k are numbers: a lower bound of the k-th largest of the elements they were taken over.
  ///
  /// Branch-free: every lane counts the maxima strictly greater than its own (32 broadcast comparisons
  /// against all four accumulators); the lanes with fewer than k greater are the k largest and their
  /// ties, and the smallest of them is the k-th largest.
  @inline(__always)
  public static func boundOfLaneMaxima(_ acc: (VectorMath.V, VectorMath.V, VectorMath.V, VectorMath.V), _ k: Int) -> Float {
    typealias I = SIMD8<Int32>
    var greater = (I(), I(), I(), I())
    let one = I(repeating: 1)
    for s in 0..<4 {
      let a = s == 0 ? acc.0 : s == 1 ? acc.1 : s == 2 ? acc.2 : acc.3
      for l in 0..<8 {
        let u = VectorMath.V(repeating: a[l])  // NaN compares false: it is greater than nothing
        greater.0 &+= I().replacing(with: one, where: acc.0 .< u)
        greater.1 &+= I().replacing(with: one, where: acc.1 .< u)
        greater.2 &+= I().replacing(with: one, where: acc.2 .< u)
        greater.3 &+= I().replacing(with: one, where: acc.3 .< u)
      }
    }
    let kv = I(repeating: Int32(k)), inf = VectorMath.V(repeating: .infinity)
    // Lanes in the top k (and numbers) keep their value; the rest become +∞.
    let t0 = inf.replacing(with: acc.0, where: (greater.0 .< kv) .& (acc.0 .== acc.0))
    let t1 = inf.replacing(with: acc.1, where: (greater.1 .< kv) .& (acc.1 .== acc.1))
    let t2 = inf.replacing(with: acc.2, where: (greater.2 .< kv) .& (acc.2 .== acc.2))
    let t3 = inf.replacing(with: acc.3, where: (greater.3 .< kv) .& (acc.3 .== acc.3))
    let numbers = I().replacing(with: 1, where: acc.0 .== acc.0) &+ I().replacing(with: 1, where: acc.1 .== acc.1)
      &+ I().replacing(with: 1, where: acc.2 .== acc.2) &+ I().replacing(with: 1, where: acc.3 .== acc.3)
    guard Int(numbers.wrappedSum()) >= k else { return -.infinity }
    return VectorMath.min(VectorMath.min(t0, t1), VectorMath.min(t2, t3)).min()
  }

  /// Plain reference selection (stable sort of all entries by rank), for tests.
  public static func referenceSelectRow(_ x: [Float], _ k: Int) -> (values: [Float], indices: [Int32]) {
    let order = x.indices.sorted { before(x[$0], Int32($0), x[$1], Int32($1)) }.prefix(k)
    return (order.map { x[$0] }, order.map { Int32($0) })
  }
}
