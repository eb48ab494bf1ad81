import Foundation

/// The numbers of edges N an ablation sweep keeps.
public enum EdgeCounts {
  /// The paper's 35 counts (√2 steps from 1 to 262144).
  public static let paper: [Int] = [1, 2, 4, 5, 7, 11, 16, 22, 32, 45, 63, 90, 127, 181, 256, 362, 512, 724, 1024,
                                    1448, 2048, 2896, 4095, 5792, 8191, 11585, 16383, 23170, 32768, 46340, 65536,
                                    92681, 131072, 185363, 262144]

  /// The counts clamped to `total` edges, without duplicates, ascending; `clamped` lists the requested
  /// counts above `total`. Throws on counts below 1.
  public static func resolve(_ counts: [Int], total: Int) throws -> (counts: [Int], clamped: [Int]) {
    guard !counts.isEmpty else { throw ExperimentError("no edge counts given") }
    if let bad = counts.first(where: { $0 < 1 }) { throw ExperimentError("edge counts must be at least 1, got \(bad)") }
    let clamped = counts.filter { $0 > total }
    return (Array(Set(counts.map { Swift.min($0, total) })).sorted(), clamped)
  }

  /// Parses `default` or a comma-separated list of positive integers.
  public static func parse(_ text: String) throws -> [Int] {
    if text == "default" { return paper }
    let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    var out: [Int] = []
    for p in parts {
      guard let n = Int(p), n >= 1 else { throw ExperimentError("edge counts must be 'default' or a list of positive integers, got '\(text)'") }
      out.append(n)
    }
    return out
  }
}
