/// An n-dimensional array of Int32 values (token ids, top-k indices), row-major, with value semantics.
public struct IntTensor: Equatable, Sendable {
  /// Dimensions, outermost first.
  public private(set) var shape: [Int]
  /// Values in row-major order.
  public var scalars: [Int32] {
    didSet { precondition(scalars.count == Shape.count(shape), "IntTensor values no longer match shape \(shape)") }
  }

  /// A tensor holding `scalars` in row-major order.
  public init(shape: [Int], scalars: [Int32]) {
    precondition(Shape.count(shape) == scalars.count,
                 "shape \(shape) needs \(Shape.count(shape)) values, got \(scalars.count)")
    self.shape = shape
    self.scalars = scalars
  }

  /// A rank-1 tensor.
  public init(_ scalars: [Int32]) { self.init(shape: [scalars.count], scalars: scalars) }

  /// A tensor of zeros.
  public init(zeros shape: [Int]) { self.init(shape: shape, scalars: [Int32](repeating: 0, count: Shape.count(shape))) }

  @inlinable public var rank: Int { shape.count }
  @inlinable public var count: Int { scalars.count }

  /// Element at a multi-dimensional index.
  public subscript(_ index: Int...) -> Int32 {
    get {
      precondition(index.count == rank, "index \(index) does not match shape \(shape)")
      var flat = 0
      for (d, i) in index.enumerated() {
        precondition(i >= 0 && i < shape[d], "index \(index) out of bounds for shape \(shape)")
        flat = flat * shape[d] + i
      }
      return scalars[flat]
    }
  }

  /// The same values with another shape of equal element count.
  public func reshaped(_ newShape: [Int]) -> IntTensor {
    precondition(Shape.count(newShape) == count, "cannot reshape \(shape) to \(newShape)")
    return IntTensor(shape: newShape, scalars: scalars)
  }

  /// Rows `range` along the first axis.
  public func rows(_ range: Range<Int>) -> IntTensor {
    precondition(rank >= 1 && range.lowerBound >= 0 && range.upperBound <= shape[0], "rows \(range) out of bounds for shape \(shape)")
    let inner = count / Swift.max(shape[0], 1)
    var s = shape
    s[0] = range.count
    return IntTensor(shape: s, scalars: Array(scalars[(range.lowerBound * inner)..<(range.upperBound * inner)]))
  }

  /// The values as Float32.
  public var asFloat: Tensor { Tensor(shape: shape, scalars: scalars.map { Float($0) }) }
}
