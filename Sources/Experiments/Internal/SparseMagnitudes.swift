import Tensor

/// Sparse upstream magnitudes per position: the nonzero entries (compressed rows).
struct SparseMagnitudes {
  let positions: Int
  var offsets: [Int] = [0]
  var indices: [Int32] = []
  var values: [Float] = []

  /// From dense magnitudes [..., F].
  init(dense: Tensor) {
    let f = dense.shape.last!
    positions = dense.count / f
    dense.withUnsafeBufferPointer { p in
      for r in 0..<positions {
        for i in 0..<f where p[r * f + i] != 0 {
          indices.append(Int32(i))
          values.append(p[r * f + i])
        }
        offsets.append(indices.count)
      }
    }
  }

  /// Largest number of nonzero entries at one position.
  var maxActive: Int { (0..<positions).map { offsets[$0 + 1] - offsets[$0] }.max() ?? 0 }
}
