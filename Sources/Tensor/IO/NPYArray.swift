/// The typed values of a NumPy array, in row-major (C) order.
public enum NPYData: Equatable, Sendable {
  case uint16([UInt16])
  case int32([Int32])
  case int64([Int64])
  case float32([Float])

  /// Number of values.
  public var count: Int {
    switch self {
    case .uint16(let v): return v.count
    case .int32(let v): return v.count
    case .int64(let v): return v.count
    case .float32(let v): return v.count
    }
  }

  /// NumPy's little-endian type descriptor ('<u2', '<i4', '<i8', '<f4').
  public var descr: String {
    switch self {
    case .uint16: return "<u2"
    case .int32: return "<i4"
    case .int64: return "<i8"
    case .float32: return "<f4"
    }
  }

  /// Bytes per value.
  public var itemSize: Int {
    switch self {
    case .uint16: return 2
    case .int32, .float32: return 4
    case .int64: return 8
    }
  }
}

/// A NumPy array as stored in a `.npy` file: shape plus typed values.
public struct NPYArray: Equatable, Sendable {
  /// Dimensions, outermost first (`[]` for a scalar).
  public var shape: [Int]
  /// Values in row-major order; their count must equal the product of `shape`.
  public var data: NPYData

  public init(shape: [Int], data: NPYData) {
    self.shape = shape
    self.data = data
  }
}
