import Foundation

extension Tensor {
  /// Views the tensor as [outer, n, inner] around `axis`.
  func reductionView(_ axis: Int) -> (outer: Int, n: Int, inner: Int, axis: Int) {
    let ax = Shape.axis(axis, rank: rank)
    return (Shape.count(Array(shape[..<ax])), shape[ax], Shape.count(Array(shape[(ax + 1)...])), ax)
  }

  func reducedShape(_ ax: Int, keepDims: Bool) -> [Int] {
    var s = shape
    if keepDims { s[ax] = 1 } else { s.remove(at: ax) }
    return s
  }

  /// Sum over `axis` (accumulated in Double for long rows).
  public func sum(axis: Int, keepDims: Bool = false) -> Tensor {
    let (outer, n, inner, ax) = reductionView(axis)
    var out = Tensor(zeros: reducedShape(ax, keepDims: keepDims))
    let po = out.unsafeMutablePointer()
    withExtendedLifetime(storage) {
      let p = storage.pointer
      if inner == 1 {
        Parallel.forRanges(outer, grain: Swift.max(1, 4096 / Swift.max(n, 1))) { r in
          for o in r {
            let row = p + o * n
            var acc: Double = 0
            var j = 0
            while VectorMath.vectorized && j + 8 <= n {
              let v = VectorMath.load(row + j)
              acc += Double(v.sum())
              j += 8
            }
            while j < n { acc += Double(row[j]); j += 1 }
            po[o] = Float(acc)
          }
        }
      } else {
        // Split the reduced axis into parts (so that a single [rows, cols] column sum uses every core); each
        // part adds rows in Float over runs of 64 rows (contiguous, vectorisable), flushing into Double.
        let parts = Swift.max(1, Swift.min(Parallel.threadCount, n * inner / 65536, n))
        let partial = UnsafeMutablePointer<Double>.allocate(capacity: outer * parts * inner)
        defer { partial.deallocate() }
        Parallel.forRanges(outer * parts, grain: 1) { r in
          let facc = UnsafeMutablePointer<Float>.allocate(capacity: inner)
          defer { facc.deallocate() }
          for item in r {
            let o = item / parts, part = item % parts
            let dacc = partial + item * inner
            dacc.update(repeating: 0, count: inner)
            let k0 = n * part / parts, k1 = n * (part + 1) / parts
            var k = k0
            while k < k1 {
              let kEnd = Swift.min(k1, k + 64)
              facc.update(repeating: 0, count: inner)
              for kk in k..<kEnd {
                let row = p + (o * n + kk) * inner
                for j in 0..<inner { facc[j] += row[j] }
              }
              for j in 0..<inner { dacc[j] += Double(facc[j]) }
              k = kEnd
            }
          }
        }
        for o in 0..<outer {
          for j in 0..<inner {
            var total = 0.0
            for part in 0..<parts { total += partial[(o * parts + part) * inner + j] }
            po[o * inner + j] = Float(total)
          }
        }
      }
    }
    return out
  }

  /// Sum over several axes.
  public func sum(axes: [Int], keepDims: Bool = false) -> Tensor {
    let normalized = Set(axes.map { Shape.axis($0, rank: rank) }).sorted(by: >)
    var r = self
    for a in normalized { r = r.sum(axis: a, keepDims: true) }
    if !keepDims { r = r.reshaped(shape.enumerated().filter { !normalized.contains($0.offset) }.map { $0.element }) }
    return r
  }

  /// Sum of all elements, accumulated in Double.
  public func sum() -> Float {
    withUnsafeBufferPointer { b in
      var acc: Double = 0
      for v in b { acc += Double(v) }
      return Float(acc)
    }
  }

  /// Mean of all elements.
  public func mean() -> Float { count == 0 ? .nan : sum() / Float(count) }

  /// Mean over `axis`.
  public func mean(axis: Int, keepDims: Bool = false) -> Tensor {
    let n = shape[Shape.axis(axis, rank: rank)]
    return sum(axis: axis, keepDims: keepDims).scaled(1 / Float(n))
  }

  /// Mean over several axes.
  public func mean(axes: [Int], keepDims: Bool = false) -> Tensor {
    let n = Set(axes.map { Shape.axis($0, rank: rank) }).reduce(1) { $0 * shape[$1] }
    return sum(axes: axes, keepDims: keepDims).scaled(1 / Float(n))
  }

  /// Largest value and its first index along `axis`.
  public func maxWithIndices(axis: Int, keepDims: Bool = false) -> (values: Tensor, indices: IntTensor) {
    let (outer, n, inner, ax) = reductionView(axis)
    precondition(n > 0, "max over an empty axis of shape \(shape)")
    let outShape = reducedShape(ax, keepDims: keepDims)
    var values = Tensor(uninitialized: outShape)
    var idx = [Int32](repeating: 0, count: outer * inner)
    let pv = values.unsafeMutablePointer()
    withExtendedLifetime(storage) {
      let p = storage.pointer
      idx.withUnsafeMutableBufferPointer { pi in
        for o in 0..<outer {
          for j in 0..<inner {
            var best = p[o * n * inner + j], bi = 0
            for k in 1..<Swift.max(n, 1) {
              let v = p[(o * n + k) * inner + j]
              if v > best || (v.isNaN && !best.isNaN) { best = v; bi = k }
            }
            pv[o * inner + j] = best
            pi[o * inner + j] = Int32(bi)
          }
        }
      }
    }
    return (values, IntTensor(shape: outShape, scalars: idx))
  }

  /// Largest value along `axis`.
  public func max(axis: Int, keepDims: Bool = false) -> Tensor { maxWithIndices(axis: axis, keepDims: keepDims).values }

  /// Index of the first largest value along `axis`.
  public func argmax(axis: Int, keepDims: Bool = false) -> IntTensor { maxWithIndices(axis: axis, keepDims: keepDims).indices }

  /// Largest element.
  public func max() -> Float { withUnsafeBufferPointer { $0.max() ?? -.infinity } }
  /// Smallest element.
  public func min() -> Float { withUnsafeBufferPointer { $0.min() ?? .infinity } }

  /// p-norm over `axis` (p = 1 or 2, or any positive p).
  public func norm(axis: Int, p: Float = 2, keepDims: Bool = false) -> Tensor {
    switch p {
    case 1: return unary(.abs).sum(axis: axis, keepDims: keepDims)
    case 2: return unary(.square).sum(axis: axis, keepDims: keepDims).unary(.sqrt)
    default: return unary(.abs).pow(p).sum(axis: axis, keepDims: keepDims).pow(1 / p)
    }
  }

  /// Euclidean norm of all elements.
  public func norm() -> Float {
    withUnsafeBufferPointer { b in
      var acc: Double = 0
      for v in b { acc += Double(v) * Double(v) }
      return Float(acc.squareRoot())
    }
  }

  /// Softmax along the last axis.
  public func softmax() -> Tensor { mapLastAxisRows(SoftmaxKernel.softmaxRow) }

  /// Log-softmax along the last axis.
  public func logSoftmax() -> Tensor { mapLastAxisRows(SoftmaxKernel.logSoftmaxRow) }

  /// A tensor of this shape whose rows along the last axis are `row(input, output, n)` of this one's.
  private func mapLastAxisRows(_ row: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) -> Tensor {
    let n = shape.last ?? 1
    var out = Tensor(uninitialized: shape)
    let po = out.unsafeMutablePointer()
    withExtendedLifetime(storage) {
      let p = storage.pointer
      Parallel.forRanges(count / Swift.max(n, 1), grain: Swift.max(1, 8192 / Swift.max(n, 1))) { r in
        for i in r { row(p + i * n, po + i * n, n) }
      }
    }
    return out
  }
}
