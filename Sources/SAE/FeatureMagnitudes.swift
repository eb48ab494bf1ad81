import Tensor

/// SAE feature magnitudes of a batch of tokens, stored sparsely: for each token (row) the features with a
/// nonzero magnitude, in increasing feature order (compressed sparse rows).
public struct FeatureMagnitudes: Sendable {
  /// Number of tokens.
  public let rows: Int
  /// Dictionary size F.
  public let featureCount: Int
  /// Row r's entries are `offsets[r] ..< offsets[r + 1]`.
  public let offsets: [Int]
  public let indices: [Int32]
  public let values: [Float]
  /// Leading shape of the activations (e.g. [B, T]); rows = product.
  public let leadingShape: [Int]

  public init(rows: Int, featureCount: Int, offsets: [Int], indices: [Int32], values: [Float], leadingShape: [Int]) {
    precondition(offsets.count == rows + 1 && indices.count == values.count && offsets.last == indices.count,
                 "inconsistent sparse feature layout")
    self.rows = rows
    self.featureCount = featureCount
    self.offsets = offsets
    self.indices = indices
    self.values = values
    self.leadingShape = leadingShape
  }

  /// The nonzero entries of a dense [..., F] tensor.
  public init(dense: Tensor) {
    let f = dense.shape.last!
    let rows = dense.count / Swift.max(f, 1)
    var offsets = [0]
    offsets.reserveCapacity(rows + 1)
    var idx: [Int32] = [], vals: [Float] = []
    dense.withUnsafeBufferPointer { p in
      for r in 0..<rows {
        for j in 0..<f where p[r * f + j] != 0 {
          idx.append(Int32(j))
          vals.append(p[r * f + j])
        }
        offsets.append(idx.count)
      }
    }
    self.init(rows: rows, featureCount: f, offsets: offsets, indices: idx, values: vals, leadingShape: Array(dense.shape.dropLast()))
  }

  /// Number of nonzero entries.
  public var nonzeroCount: Int { values.count }

  /// Mean number of nonzero features per token.
  public var l0: Float { rows == 0 ? 0 : Float(Double(nonzeroCount) / Double(rows)) }

  /// Mean number of nonzero features per token within each consecutive chunk of `chunk` features.
  public func l0PerChunk(_ chunk: Int) -> [Float] {
    let chunks = (featureCount + chunk - 1) / chunk
    var counts = [Int](repeating: 0, count: chunks)
    for j in indices { counts[Int(j) / chunk] += 1 }
    return counts.map { rows == 0 ? 0 : Float(Double($0) / Double(rows)) }
  }

  /// The magnitudes as a dense [leadingShape..., F] tensor.
  public func dense() -> Tensor {
    var t = Tensor(zeros: leadingShape + [featureCount])
    let p = t.unsafeMutablePointer()
    for r in 0..<rows {
      for e in offsets[r]..<offsets[r + 1] { p[r * featureCount + Int(indices[e])] = values[e] }
    }
    return t
  }
}
