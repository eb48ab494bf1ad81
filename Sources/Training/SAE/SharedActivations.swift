import Foundation
import GPT
import SAE
import Tensor

/// Clean activations of one frozen GPT shared by the trainers of an `SAETrainingGroup`: the GPT runs once per
/// batch of tokens, recording every key any trainer needs, and the trainers that read the same batch reuse
/// the result. The values are those each trainer would compute itself (the same forward pass on the same
/// tokens), so grouped runs equal separate ones bit for bit.
public final class SharedActivations {
  public let gpt: GPT
  /// Every key recorded per batch.
  public let keys: [SAEKey]
  /// Batches kept (one per micro-batch of an optimisation step).
  public let capacity: Int
  private var entries: [(tokens: IntTensor, values: [SAEKey: Tensor])] = []
  /// Batches served from the cache and batches computed.
  public private(set) var hits = 0, misses = 0

  /// A cache over `gpt` recording `keys` (duplicates are dropped), keeping the latest `capacity` batches.
  public init(gpt: GPT, keys: [SAEKey], capacity: Int = 1) {
    self.gpt = gpt
    var unique: [SAEKey] = []
    for key in keys where !unique.contains(key) { unique.append(key) }
    self.keys = unique
    self.capacity = Swift.max(1, capacity)
  }

  /// The clean activations of `tokens` at `wanted` (each must be among `keys`).
  public func activations(_ tokens: IntTensor, keys wanted: [SAEKey]) throws -> [SAEKey: Tensor] {
    if let missing = wanted.first(where: { !keys.contains($0) }) {
      throw TrainingError("activation key \(missing) is not recorded by the shared GPT forward (keys \(keys.map(\.description)))")
    }
    let values: [SAEKey: Tensor]
    if let hit = entries.last(where: { $0.tokens == tokens }) {
      hits += 1
      values = hit.values
    } else {
      misses += 1
      values = try gpt.activations(tokens, at: keys)
      entries.append((tokens, values))
      if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
    }
    var out: [SAEKey: Tensor] = [:]
    for key in wanted { out[key] = values[key] }
    return out
  }
}
