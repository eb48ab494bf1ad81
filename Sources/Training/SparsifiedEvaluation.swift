import Foundation
import GPT
import SAE
import Tensor

/// Evaluation of a sparsified GPT on a split: per-batch metrics averaged over a fixed set of batches.
public enum SparsifiedEvaluation {
  /// Resets `loader` and averages `SparsifiedGPT.metrics` over `batches` batches.
  public static func evaluate(_ model: SparsifiedGPT, loader: inout TokenDataLoader, batches: Int) throws -> SparsifiedMetrics {
    loader.reset()
    var all: [SparsifiedMetrics] = []
    for _ in 0..<batches {
      let (x, y) = try loader.nextBatch()
      all.append(try model.metrics(x, targets: y))
    }
    return SparsifiedMetrics.mean(all)
  }
}
