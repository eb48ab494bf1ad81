import Foundation

extension Tensor {
  /// The same values with another shape of equal element count; one dimension may be -1 (inferred).
  public func reshaped(_ newShape: [Int]) -> Tensor {
    var s = newShape
    if let i = s.firstIndex(of: -1) {
      let known = s.enumerated().filter { $0.offset != i }.reduce(1) { $0 * $1.element }
      precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
      s[i] = count / known
    }
    var out = self
    out.setShape(s)
    return out
  }

  /// A materialised copy with axes reordered: result axis i is input axis `axes[i]`.
  public func permuted(_ axes: [Int]) -> Tensor {
    precondition(axes.count == rank && Set(axes) == Set(0..<rank), "permutation \(axes) invalid for shape \(shape)")
    if axes == Array(0..<rank) { return self }
    let newShape = axes.map { shape[$0] }
    let inStrides = Shape.strides(shape)
    let srcStrides = axes.map { inStrides[$0] }
    var out = Tensor(uninitialized: newShape)
    let po = out.unsafeMutablePointer()
    withExtendedLifetime(storage) {
      let p = storage.pointer
      // Odometer over the output; inner loop along the last output axis.
      let r = newShape.count
      let inner = newShape[r - 1], innerStride = srcStrides[r - 1]
      let outer = count / Swift.max(inner, 1)
      var idx = [Int](repeating: 0, count: r)
      var off = 0
      var o = po
      for _ in 0..<outer {
        for j in 0..<inner { o[j] = p[off + j * innerStride] }
        o += inner
        var d = r - 2
        while d >= 0 {
          idx[d] += 1
          off += srcStrides[d]
          if idx[d] < newShape[d] { break }
          off -= srcStrides[d] * newShape[d]
          idx[d] = 0
          d -= 1
        }
      }
    }
    return out
  }

  /// A materialised copy with two axes swapped (default: the last two).
  public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
    let x = Shape.axis(a, rank: rank), y = Shape.axis(b, rank: rank)
    var axes = Array(0..<rank)
    axes.swapAt(x, y)
    return permuted(axes)
  }

  /// Elements `range` along `axis` (materialised).
  public func slice(axis: Int, _ range: Range<Int>) -> Tensor {
    let ax = Shape.axis(axis, rank: rank)
    precondition(range.lowerBound >= 0 && range.upperBound <= shape[ax],
                 "slice \(range) out of bounds for axis \(ax) of shape \(shape)")
    let outer = Shape.count(Array(shape[..<ax]))
    let inner = Shape.count(Array(shape[(ax + 1)...]))
    var newShape = shape
    newShape[ax] = range.count
    var out = Tensor(uninitialized: newShape)
    let po = out.unsafeMutablePointer()
    let len = range.count * inner
    withExtendedLifetime(storage) {
      let p = storage.pointer
      for o in 0..<outer {
        (po + o * len).update(from: p + o * shape[ax] * inner + range.lowerBound * inner, count: len)
      }
    }
    return out
  }

  /// Writes `values` into elements `start ..< start + values.shape[axis]` along `axis`, in place.
  public mutating func assignSlice(axis: Int, start: Int, _ values: Tensor) {
    let ax = Shape.axis(axis, rank: rank)
    var expect = shape
    expect[ax] = values.rank == rank ? values.shape[ax] : -1
    precondition(values.shape == expect && start >= 0 && start + values.shape[ax] <= shape[ax],
                 "assignSlice: values of shape \(values.shape) do not fit shape \(shape) at \(start) on axis \(ax)")
    let outer = Shape.count(Array(shape[..<ax]))
    let inner = Shape.count(Array(shape[(ax + 1)...]))
    let len = values.shape[ax] * inner
    let po = unsafeMutablePointer()
    let dim = shape[ax]
    withExtendedLifetime(values.storage) {
      let p = values.storage.pointer
      for o in 0..<outer {
        (po + o * dim * inner + start * inner).update(from: p + o * len, count: len)
      }
    }
  }

  /// Joins tensors along `axis`; all other dimensions must agree.
  public static func concatenate(_ tensors: [Tensor], axis: Int) -> Tensor {
    precondition(!tensors.isEmpty, "concatenate needs at least one tensor")
    let first = tensors[0]
    let ax = Shape.axis(axis, rank: first.rank)
    var newShape = first.shape
    newShape[ax] = 0
    for t in tensors {
      var a = t.shape, b = first.shape
      precondition(a.count == b.count, "concatenate: shapes \(first.shape) and \(t.shape) differ in rank")
      a[ax] = 0; b[ax] = 0
      precondition(a == b, "concatenate along axis \(ax): shapes \(first.shape) and \(t.shape) differ")
      newShape[ax] += t.shape[ax]
    }
    var out = Tensor(uninitialized: newShape)
    var start = 0
    for t in tensors {
      out.assignSlice(axis: ax, start: start, t)
      start += t.shape[ax]
    }
    return out
  }

  /// Stacks equal-shaped tensors along a new axis.
  public static func stack(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
    precondition(!tensors.isEmpty, "stack needs at least one tensor")
    let s = tensors[0].shape
    let ax = axis < 0 ? axis + s.count + 1 : axis
    precondition(ax >= 0 && ax <= s.count, "stack axis \(axis) out of range for shape \(s)")
    var expanded = s
    expanded.insert(1, at: ax)
    return concatenate(tensors.map {
      precondition($0.shape == s, "stack: shapes \(s) and \($0.shape) differ")
      return $0.reshaped(expanded)
    }, axis: ax)
  }

  /// Splits along `axis` into pieces of the given sizes (which must sum to the axis length).
  public func split(axis: Int, sizes: [Int]) -> [Tensor] {
    let ax = Shape.axis(axis, rank: rank)
    precondition(sizes.reduce(0, +) == shape[ax], "split sizes \(sizes) do not sum to \(shape[ax]) (axis \(ax) of \(shape))")
    var start = 0
    return sizes.map { n in
      defer { start += n }
      return slice(axis: ax, start..<(start + n))
    }
  }

  /// A materialised copy broadcast to `newShape` (NumPy rules).
  public func expanded(to newShape: [Int]) -> Tensor {
    if shape == newShape { return self }
    let strides = Shape.broadcastStrides(from: shape, to: newShape)
    var out = Tensor(uninitialized: newShape)
    let zero = Tensor(zeros: [1])
    withExtendedLifetime((storage, zero.storage)) {
      Tensor.stridedBinary(newShape, storage.pointer, strides, zero.storage.pointer,
                           [Int](repeating: 0, count: newShape.count), out.unsafeMutablePointer(), AddF.self)
    }
    return out
  }

  /// Sums a broadcast result back to `target` shape (the adjoint of broadcasting).
  public func sumToShape(_ target: [Int]) -> Tensor {
    if shape == target { return self }
    precondition(target.count <= rank, "cannot reduce shape \(shape) to \(target)")
    var result = self
    // leading axes that target lacks
    let lead = rank - target.count
    if lead > 0 {
      result = result.reshaped([Shape.count(Array(shape[..<lead])), Shape.count(Array(shape[lead...]))])
        .sum(axis: 0).reshaped(Array(shape[lead...]))
    }
    for (i, d) in target.enumerated() where d == 1 && result.shape[i] != 1 {
      result = result.sum(axis: i, keepDims: true)
    }
    precondition(result.shape == target, "cannot reduce shape \(shape) to \(target)")
    return result
  }
}
