import Foundation

/// Sums over the rows of long [N, ·] operands (weight and bias gradients of layers applied row by row) taken in
/// chunks of `chunkRows(n)` rows, each chunk's partial sum accumulated block by block, and the chunks' partials
/// added in chunk order. The chunks depend on N alone, so the result does not depend on how many threads took
/// them.
public enum RowChunkSums {
  /// Rows per chunk for `n` rows: a multiple of 256 (and so of every row block the kernels use, powers of two
  /// up to 256) that gives about 16 chunks, enough for every core of a machine with up to 16, and at least 256.
  public static func chunkRows(_ n: Int) -> Int {
    let target = (Swift.max(n, 0) + 15) / 16
    return Swift.max(256, (target + 255) / 256 * 256)
  }

  /// Values of a row block that stay in a core's L2 cache beside the rest of a kernel's work (64 Ki, 256 KiB).
  public static let cachedValues = 65_536

  /// Rows per block of an operand with `valuesPerRow` values a row: the power of two, from 16 to 256, that keeps
  /// a block within `cachedValues`. A multiple of 16 (the products' register tiles) and a divisor of every
  /// `chunkRows`.
  public static func blockRows(valuesPerRow: Int) -> Int {
    var rows = 256
    while rows > 16 && rows * Swift.max(valuesPerRow, 1) > cachedValues { rows /= 2 }
    return rows
  }

  /// The number of chunks for `n` rows (at least 1).
  public static func chunks(_ n: Int) -> Int { Swift.max(1, (n + chunkRows(n) - 1) / chunkRows(n)) }

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

  /// Σ over `chunks` consecutive `shape`-sized Float partials, added in chunk order (`VectorMath.sumChunks`).
  public static func sumPartials(_ p: UnsafePointer<Float>, chunks: Int, shape: [Int]) -> Tensor {
    var out = Tensor(uninitialized: shape)
    VectorMath.sumChunks(p, chunks: chunks, size: out.count, into: out.unsafeMutablePointer())
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
