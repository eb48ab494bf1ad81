import Foundation
import GPT
import SAE
import Tensor
import Training

/// Accumulates attributions between the SAE pairs of a sparsified model over batches of tokens.
public protocol PairAttributor: AnyObject {
  /// The pairs attributed, one attribution matrix each.
  var pairs: [CircuitPair] { get }
  /// Adds one batch of token sequences [B, T].
  func accumulate(_ tokens: IntTensor) throws
  /// The attribution matrices so far, [F_up, F_down] per pair, keyed by `CircuitPair.attributionKey`.
  func attributions() -> [String: Tensor]
}

extension PairAttributor {
  /// Resets `loader` and feeds it `batches` batches (the reference resets before each layer, so every pair
  /// sees the same batches); `progress` is called after each batch with the number done (an error it throws stops the run).
  public func run(loader: inout TokenDataLoader, batches: Int, progress: ((Int) throws -> Void)? = nil) throws -> [String: Tensor] {
    guard batches > 0 else { throw ExperimentError("the number of batches must be positive, got \(batches)") }
    loader.reset()
    for b in 0..<batches {
      let (x, _) = try loader.nextBatch()
      try accumulate(x)
      try progress?(b + 1)
    }
    return attributions()
  }
}

/// Freezes every parameter of a sparsified model, shared ones included.
func freezeParameters(_ model: SparsifiedGPT) {
  model.gpt.setRequiresGrad(false)
  for (_, p) in model.namedParameters { p.setRequiresGrad(false) }
}

/// Freezes the GPT's and the pairs' SAE parameters (attribution only differentiates inputs).
func freezeParameters(gpt: GPT, pairs: [CircuitPair]) {
  gpt.setRequiresGrad(false)
  for pair in pairs {
    for sae in [pair.upstream, pair.downstream] {
      sae.setRequiresGrad(false)
      for p in sae.parametersInUse { p.setRequiresGrad(false) }
    }
  }
}

/// The pairs of `model` at `layers` (default: every upstream layer with both SAEs); one-line errors for
/// layers without a pair.
func resolvePairs(_ model: SparsifiedGPT, layers: [Int]?) throws -> [CircuitPair] {
  let available = try CircuitPair.layers(of: model)
  let chosen = layers ?? available
  guard !chosen.isEmpty else { throw ExperimentError("no SAE pairs to attribute") }
  if Set(chosen).count != chosen.count { throw ExperimentError("duplicate layers in \(chosen)") }
  for l in chosen where !available.contains(l) {
    throw ExperimentError("layer \(l) has no SAE pair in this checkpoint (available: \(available.map(String.init).joined(separator: ", ")))")
  }
  return try chosen.map { try CircuitPair(model: model, layer: $0) }
}
