import Foundation
import Tensor

/// The kept upstream parents of every downstream feature, as bit sets over the upstream features; edges
/// are added incrementally as N grows.
struct ParentSets {
  let upstream: Int
  let downstream: Int
  /// UInt64 words per set.
  let words: Int
  /// [downstream, words].
  private(set) var bits: [UInt64]
  private(set) var edgeCount = 0

  init(upstream: Int, downstream: Int) {
    self.upstream = upstream
    self.downstream = downstream
    words = (upstream + 63) / 64
    bits = [UInt64](repeating: 0, count: downstream * words)
  }

  /// Keeps edge i·F_down + j.
  mutating func add(edge: Int32) {
    let e = Int(edge), i = e / downstream, j = e % downstream
    let w = j * words + i / 64, bit = UInt64(1) << UInt64(i % 64)
    if bits[w] & bit == 0 {
      bits[w] |= bit
      edgeCount += 1
    }
  }

  /// Downstream features grouped by identical nonempty parent sets, in order of first feature.
  func groups() -> [(parents: [UInt64], features: [Int32])] {
    var index: [[UInt64]: Int] = [:]
    var out: [(parents: [UInt64], features: [Int32])] = []
    for j in 0..<downstream {
      let set = Array(bits[(j * words)..<((j + 1) * words)])
      if set.allSatisfy({ $0 == 0 }) { continue }
      if let g = index[set] {
        out[g].features.append(Int32(j))
      } else {
        index[set] = out.count
        out.append((set, [Int32(j)]))
      }
    }
    return out
  }
}
