import Foundation
import Tensor

/// How concentrated one pair's attribution matrix [F_up, F_down] is: the share of the squared attribution on
/// the diagonal (upstream feature i → downstream feature i, the feature a staircase pair shares), and how many
/// of the largest edges carry given shares of the squared attribution.
public struct AttributionStatistics: Sendable, Equatable, Codable {
  /// F_up · F_down.
  public var edges: Int
  /// Σ a².
  public var squaredTotal: Double
  /// Σ_i a_ii² / Σ a² over i < min(F_up, F_down) (0 when the matrix is all zeros).
  public var diagonalShare: Double
  /// Edges with a nonzero attribution.
  public var nonzeroEdges: Int
  /// Share of Σ a² → the fewest edges (largest |a| first) whose squares reach that share.
  public var edgesForShare: [Double: Int]

  /// The shares `edgesForShare` reports by default.
  public static let defaultShares: [Double] = [0.5, 0.9, 0.99]

  /// The statistics of `matrix` (rank 2) at `shares` (each in (0, 1]).
  public init(matrix: Tensor, shares: [Double] = AttributionStatistics.defaultShares) {
    precondition(matrix.rank == 2, "attribution statistics need a matrix, got shape \(matrix.shape)")
    let rows = matrix.shape[0], cols = matrix.shape[1]
    var squares = [Double](repeating: 0, count: rows * cols)
    var total = 0.0, diagonal = 0.0, nonzero = 0
    matrix.withUnsafeBufferPointer { a in
      for i in 0..<(rows * cols) {
        let v = Double(a[i])
        squares[i] = v * v
        total += v * v
        if v != 0 { nonzero += 1 }
      }
      for i in 0..<Swift.min(rows, cols) { diagonal += squares[i * cols + i] }
    }
    squares.sort(by: >)
    var counts: [Double: Int] = [:]
    for share in shares.sorted() {
      let target = share * total
      var running = 0.0, n = 0
      while n < squares.count && (running < target || n == 0) {
        running += squares[n]
        n += 1
      }
      counts[share] = total > 0 ? n : 0
    }
    edges = rows * cols
    squaredTotal = total
    diagonalShare = total > 0 ? diagonal / total : 0
    nonzeroEdges = nonzero
    edgesForShare = counts
  }
}
