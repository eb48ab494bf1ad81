import Foundation

/// An n-dimensional array of Float32 values in contiguous row-major order, with value semantics.
///
/// Copies share storage until one of them is mutated (copy-on-write). A tensor of shape `[]` holds one
/// scalar. Every operation returns a new tensor; the `…InPlace` methods mutate their receiver.
public struct Tensor: @unchecked Sendable {
  /// Dimensions, outermost first.
  public private(set) var shape: [Int]
  @usableFromInline var storage: TensorStorage

  /// Wraps existing storage; `storage.count` must equal the shape's element count.
  public init(shape: [Int], storage: TensorStorage) {
    precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
    precondition(Shape.count(shape) == storage.count,
                 "shape \(shape) holds \(Shape.count(shape)) elements but storage has \(storage.count)")
    self.shape = shape
    self.storage = storage
  }

  /// A tensor whose values are not initialised; callers must write every element before reading.
  public init(uninitialized shape: [Int]) {
    self.init(shape: shape, storage: TensorStorage(uninitializedCount: Shape.count(shape)))
  }

  /// A tensor of zeros.
  public init(zeros shape: [Int]) {
    self.init(shape: shape, storage: TensorStorage(zeroedCount: Shape.count(shape)))
  }

  /// A tensor with every element equal to `value`.
  public init(shape: [Int], repeating value: Float) {
    self.init(uninitialized: shape)
    if value == 0 {
      storage.pointer.update(repeating: 0, count: count)
    } else {
      storage.pointer.update(repeating: value, count: count)
    }
  }

  /// A tensor holding `scalars` in row-major order.
  public init(shape: [Int], scalars: [Float]) {
    precondition(Shape.count(shape) == scalars.count,
                 "shape \(shape) needs \(Shape.count(shape)) values, got \(scalars.count)")
    self.init(uninitialized: shape)
    if !scalars.isEmpty { scalars.withUnsafeBufferPointer { storage.pointer.update(from: $0.baseAddress!, count: $0.count) } }
  }

  /// A rank-1 tensor holding `scalars`.
  public init(_ scalars: [Float]) { self.init(shape: [scalars.count], scalars: scalars) }

  /// A rank-0 tensor holding one value.
  public init(scalar: Float) { self.init(shape: [], scalars: [scalar]) }

  /// Number of dimensions.
  @inlinable public var rank: Int { shape.count }
  /// Number of elements.
  @inlinable public var count: Int { storage.count }

  /// All values in row-major order.
  public var scalars: [Float] {
    Array(UnsafeBufferPointer(start: storage.pointer, count: count))
  }

  /// The value of a one-element tensor.
  public var scalar: Float {
    precondition(count == 1, "scalar requested from a tensor of shape \(shape)")
    return storage.pointer[0]
  }

  /// Reads the contiguous values.
  @inlinable
  public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
    try withExtendedLifetime(storage) { try body(UnsafeBufferPointer(start: storage.pointer, count: storage.count)) }
  }

  /// Writes the contiguous values, first copying the storage if it is shared.
  @inlinable
  public mutating func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
    makeUnique()
    return try withExtendedLifetime(storage) {
      try body(UnsafeMutableBufferPointer(start: storage.pointer, count: storage.count))
    }
  }

  /// Pointer to the first element. Valid only while this tensor (or a copy sharing its storage) is alive:
  /// keep it alive with `withExtendedLifetime` around the use.
  @inlinable public var unsafePointer: UnsafePointer<Float> { UnsafePointer(storage.pointer) }

  /// Mutable pointer to the first element after making the storage unique; same lifetime rule as `unsafePointer`.
  @inlinable public mutating func unsafeMutablePointer() -> UnsafeMutablePointer<Float> {
    makeUnique()
    return storage.pointer
  }

  /// Ensures no other tensor shares this storage.
  @inlinable public mutating func makeUnique() {
    if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
  }

  /// True when both tensors share one storage buffer.
  public func sharesStorage(with other: Tensor) -> Bool { storage === other.storage }

  /// Element at a multi-dimensional index (slow; for tests and small tensors).
  public subscript(_ index: Int...) -> Float {
    get { storage.pointer[flatIndex(index)] }
    set {
      let i = flatIndex(index)
      makeUnique()
      storage.pointer[i] = newValue
    }
  }

  func flatIndex(_ index: [Int]) -> Int {
    precondition(index.count == rank, "index \(index) has \(index.count) components for shape \(shape)")
    var flat = 0
    for (d, i) in index.enumerated() {
      precondition(i >= 0 && i < shape[d], "index \(index) out of bounds for shape \(shape)")
      flat = flat * shape[d] + i
    }
    return flat
  }

  /// Replaces the shape by another with the same element count, without copying.
  public mutating func setShape(_ newShape: [Int]) {
    precondition(Shape.count(newShape) == count, "cannot reshape \(shape) (\(count) elements) to \(newShape)")
    shape = newShape
  }
}

extension Tensor: CustomStringConvertible {
  public var description: String {
    let vals = scalars.prefix(16).map { String(format: "%.5g", $0) }.joined(separator: ", ")
    return "Tensor(shape: \(shape), [\(vals)\(count > 16 ? ", …" : "")])"
  }
}

extension Tensor: Equatable {
  /// Equal shapes and bitwise-equal values.
  public static func == (a: Tensor, b: Tensor) -> Bool {
    a.shape == b.shape && (a.storage === b.storage || memcmp(a.storage.pointer, b.storage.pointer, a.count * 4) == 0)
  }
}
