import Foundation
import Tensor
import Training

/// The prompts of ablation experiments: the first rows of the val split cut into consecutive rows of equal
/// length (the reference reads the first val shard).
public enum PromptRows {
  /// The first `count` rows of `length` tokens of the first val shard in `dataDirectory`: [count, length].
  public static func load(dataDirectory: URL, count: Int, length: Int) throws -> IntTensor {
    guard count > 0 else { throw ExperimentError("the number of prompts must be positive, got \(count)") }
    guard length > 0 else { throw ExperimentError("the prompt length must be positive, got \(length)") }
    let shards = try TokenShards.list(in: dataDirectory, split: .val)
    guard let first = shards.first else {
      throw ExperimentError("no val shards in \(dataDirectory.path) (expected val_*.npy)")
    }
    let tokens = try TokenShards.load(first)
    guard tokens.count >= count * length else {
      throw ExperimentError("\(first.path) holds \(tokens.count) tokens: \(tokens.count / length) rows of \(length), fewer than the \(count) prompts asked for")
    }
    return IntTensor(shape: [count, length], scalars: Array(tokens[0..<(count * length)]))
  }
}
