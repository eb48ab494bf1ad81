import Foundation
import GPT
import SAE
import Tensor

/// Evaluation of a sparsified GPT on a split: per-batch metrics averaged over a fixed set of batches.
public enum SparsifiedEvaluation {
  /// Resets `loader` and averages `SparsifiedGPT.metrics` over `batches` batches (a window the loader
  /// repeats is computed once, see `TokenDataLoader.mapBatches`).
  public static func evaluate(_ model: SparsifiedGPT, loader: inout TokenDataLoader, batches: Int) throws -> SparsifiedMetrics {
    loader.reset()
    return SparsifiedMetrics.mean(try loader.mapBatches(batches) { x, y in try model.metrics(x, targets: y) })
  }
}
