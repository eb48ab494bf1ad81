import Autograd
import Foundation
import Tensor

/// How often each feature of each SAE of a sparsified GPT fires (has a nonzero magnitude) over the tokens
/// seen so far, on clean activations (nothing patched).
public struct FeatureActivity: Sendable {
  /// Tokens counted.
  public private(set) var tokens = 0
  /// Per SAE key, the number of tokens on which each feature fired.
  public private(set) var counts: [SAEKey: [Int]] = [:]

  public init() {}

  /// Counts the features of every SAE of `model` on one batch of `tokens`.
  public mutating func add(_ model: SparsifiedGPT, tokens batch: IntTensor) throws {
    let outputs = try withNoGrad { try model.run(batch).outputs }
    var rows = 0
    for key in model.keys {
      guard let m = outputs[key]?.magnitudes else { throw SAEError("no output recorded for SAE \(key)") }
      var c = counts[key] ?? [Int](repeating: 0, count: m.featureCount)
      m.indices.withUnsafeBufferPointer { idx in
        for j in idx { c[Int(j)] += 1 }
      }
      counts[key] = c
      rows = m.rows
    }
    tokens += rows
  }

  /// The fraction of `key`'s features that never fired (nil for an unknown key).
  public func deadFraction(_ key: SAEKey) -> Double? {
    guard let c = counts[key], !c.isEmpty else { return nil }
    return Double(c.filter { $0 == 0 }.count) / Double(c.count)
  }

  /// Each feature's firing frequency (fired tokens / tokens) for `key`.
  public func frequencies(_ key: SAEKey) -> [Double]? {
    guard let c = counts[key], tokens > 0 else { return nil }
    return c.map { Double($0) / Double(tokens) }
  }
}
