import Foundation
import Tensor

/// How ablation experiments order the F_up·F_down edges of an SAE pair. Edges are flat indices
/// i·F_down + j (upstream feature i, downstream feature j).
public enum EdgeSelection: String, Sendable, CaseIterable {
  /// By attribution (spec section 9).
  case gradient
  /// A seeded random order (the baseline).
  case random
}

public enum EdgeRanking {
  /// All edges of an attribution matrix [F_up, F_down], ranked: positive values descending (equal values by
  /// lower flat index), then the zero-valued edges in a random order drawn from `seed`, then negative values
  /// descending. Throws on NaN or infinite values.
  public static func byAttribution(_ attributions: Tensor, seed: UInt64) throws -> [Int32] {
    guard attributions.rank == 2 else { throw ExperimentError("attributions must be a matrix, got shape \(attributions.shape)") }
    guard attributions.count <= Int(Int32.max) else { throw ExperimentError("too many edges (\(attributions.count))") }
    guard attributions.isFinite else { throw ExperimentError("attributions contain NaN or infinite values") }
    var positive: [Int32] = [], zero: [Int32] = [], negative: [Int32] = []
    let values = attributions.scalars
    for (e, v) in values.enumerated() {
      if v > 0 { positive.append(Int32(e)) } else if v == 0 { zero.append(Int32(e)) } else { negative.append(Int32(e)) }
    }
    let descending: (Int32, Int32) -> Bool = { a, b in
      let va = values[Int(a)], vb = values[Int(b)]
      return va != vb ? va > vb : a < b
    }
    positive.sort(by: descending)
    negative.sort(by: descending)
    var g = RandomGenerator(seed: seed)
    g.shuffle(&zero)
    return positive + zero + negative
  }

  /// All F_up·F_down edges in a random order drawn from `seed`.
  public static func random(upstream: Int, downstream: Int, seed: UInt64) -> [Int32] {
    var all = (0..<Int32(upstream * downstream)).map { $0 }
    var g = RandomGenerator(seed: seed)
    g.shuffle(&all)
    return all
  }
}
