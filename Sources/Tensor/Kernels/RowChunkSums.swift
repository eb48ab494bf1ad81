import Foundation

/// Sums over the rows of long [N, ·] operands (weight and bias gradients of layers applied row by row) taken in
/// fixed chunks of `chunkRows` rows, each chunk's partial sum accumulated block by block, and the chunks'
/// partials added in chunk order: the result does not depend on how many threads took the chunks.
public enum RowChunkSums {
  /// Rows per chunk (a multiple of every row block the kernels use: powers of two up to 256).
  public static let chunkRows = 2048

  /// The number of chunks for `rows` rows (at least 1).
  public static func chunks(_ rows: Int) -> Int { Swift.max(1, (rows + chunkRows - 1) / chunkRows) }

  /// acc[j] += Σ_r a[r, j] for a [rows, columns]: the rows added in Float into `scratch` [columns], then
  /// flushed into the Double sums.
  @inline(__always)
  public static func addColumnSums(_ a: UnsafePointer<Float>, rows: Int, columns: Int, scratch: UnsafeMutablePointer<Float>,
                                   into acc: UnsafeMutablePointer<Double>) {
    scratch.update(from: a, count: columns)
    var r = 1
    while r < rows { VectorMath.add(scratch, a + r * columns, scratch, columns); r += 1 }
    for j in 0..<columns { acc[j] += Double(scratch[j]) }
  }

  /// Σ over chunks of `shape`-sized Float partials `stride` apart, added in chunk order.
  public static func sumPartials(_ p: UnsafePointer<Float>, chunks: Int, stride: Int, shape: [Int]) -> Tensor {
    var out = Tensor(uninitialized: shape)
    let po = out.unsafeMutablePointer(), count = out.count
    po.update(from: p, count: count)
    var chunk = 1
    while chunk < chunks { VectorMath.add(po, p + chunk * stride, po, count); chunk += 1 }
    return out
  }

  /// Σ over chunks of `count` Double partials `stride` apart, as Float.
  public static func sumPartials(_ p: UnsafePointer<Double>, chunks: Int, stride: Int, count: Int) -> Tensor {
    var out = Tensor(uninitialized: [count])
    let po = out.unsafeMutablePointer()
    for j in 0..<count {
      var s: Double = 0
      for chunk in 0..<chunks { s += p[chunk * stride + j] }
      po[j] = Float(s)
    }
    return out
  }
}
