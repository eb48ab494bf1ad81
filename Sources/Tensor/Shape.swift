/// Shape arithmetic shared by every tensor operation.
public enum Shape {
  /// Number of elements of a shape (1 for a scalar shape `[]`).
  @inlinable public static func count(_ shape: [Int]) -> Int {
    var n = 1
    for d in shape { n *= d }
    return n
  }

  /// Row-major strides of a contiguous tensor of this shape.
  public static func strides(_ shape: [Int]) -> [Int] {
    var s = [Int](repeating: 1, count: shape.count)
    var acc = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
      s[i] = acc
      acc *= shape[i]
    }
    return s
  }

  /// Normalises a possibly negative axis for a tensor of `rank` dimensions.
  public static func axis(_ axis: Int, rank: Int) -> Int {
    let a = axis < 0 ? axis + rank : axis
    precondition(a >= 0 && a < Swift.max(rank, 1), "axis \(axis) out of range for rank \(rank)")
    return a
  }

  /// NumPy broadcasting: align trailing dimensions; each pair must be equal or contain a 1.
  public static func broadcast(_ a: [Int], _ b: [Int]) -> [Int] {
    let r = Swift.max(a.count, b.count)
    var out = [Int](repeating: 1, count: r)
    for i in 0..<r {
      let da = i < r - a.count ? 1 : a[i - (r - a.count)]
      let db = i < r - b.count ? 1 : b[i - (r - b.count)]
      precondition(da == db || da == 1 || db == 1, "shapes \(a) and \(b) cannot be broadcast together")
      out[i] = da == 1 ? db : da
    }
    return out
  }

  /// Strides for reading a tensor of shape `from` as if it had the broadcast shape `to` (0 on broadcast axes).
  public static func broadcastStrides(from: [Int], to: [Int]) -> [Int] {
    precondition(from.count <= to.count, "cannot broadcast \(from) to \(to)")
    let own = strides(from)
    var out = [Int](repeating: 0, count: to.count)
    let off = to.count - from.count
    for i in 0..<from.count {
      precondition(from[i] == to[i + off] || from[i] == 1, "cannot broadcast \(from) to \(to)")
      out[i + off] = from[i] == 1 ? 0 : own[i]
    }
    return out
  }
}
