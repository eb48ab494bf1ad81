extension Tensor {
  /// A Float32 tensor with the array's shape and values; integer values must be exactly representable in Float32.
  public init(npy array: NPYArray) throws {
    let n = array.data.count
    guard Shape.count(array.shape) == n, array.shape.allSatisfy({ $0 >= 0 }) else {
      throw FileFormatError("npy array of shape \(array.shape) holds \(n) values")
    }
    var t = Tensor(uninitialized: array.shape)
    let dst = t.unsafeMutablePointer()
    switch array.data {
    case .float32(let v):
      v.withUnsafeBufferPointer { if n > 0 { dst.update(from: $0.baseAddress!, count: n) } }
    case .uint16(let v):
      for i in 0..<n { dst[i] = Float(v[i]) }
    case .int32(let v):
      for i in 0..<n {
        guard let f = Float(exactly: v[i]) else {
          throw FileFormatError("npy int32 value \(v[i]) at index \(i) is not exactly representable as Float32")
        }
        dst[i] = f
      }
    case .int64(let v):
      for i in 0..<n {
        guard let f = Float(exactly: v[i]) else {
          throw FileFormatError("npy int64 value \(v[i]) at index \(i) is not exactly representable as Float32")
        }
        dst[i] = f
      }
    }
    self = t
  }
}
