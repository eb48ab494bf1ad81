import Autograd
import Foundation
import GPT
import SAE
import Tensor

/// Integrated-gradient attributions between consecutive SAEs (spec section 9).
///
/// For target feature j of the downstream SAE: IG = Σ_α ∂(Σ_positions f₁_j)/∂f₀ at α·f₀ + (1 − α)·b, times
/// ‖f₀ − b‖₂ / steps per position, with α over linspace(0, 1, steps) and b the upstream SAE's
/// `attributionBaseline` (0; θ where f₀ > 0 for JumpReLU); the attribution of (i, j) is
/// sqrt(Σ over batches, rows and positions of IG²). Source magnitudes f₀ are the upstream SAE's encoding
/// of the clean activation.
///
/// All targets are handled together: the gradients of every active (position, target) pair are stacked
/// and pushed back through the path with matrix products (see `IGWorker`), instead of one backward pass
/// per target. Rows of a batch are split over cores. Freezes the model's parameters.
public final class IntegratedGradientsAttributor: PairAttributor {
  public let gpt: GPT
  public let pairs: [CircuitPair]
  /// Points on the integration path.
  public let steps: Int
  /// α values: linspace(0, 1, steps), both ends included.
  public let alphas: [Float]
  /// Batches accumulated so far.
  public private(set) var batchCount = 0
  let states: [IGPairState]
  private let workers: [IGWorker]
  private let partials: [PartialGram]

  /// Attributes the pairs of `model` at `layers` (upstream layer indices; default: every pair).
  public convenience init(model: SparsifiedGPT, layers: [Int]? = nil, steps: Int) throws {
    freezeParameters(model)
    try self.init(gpt: model.gpt, pairs: try resolvePairs(model, layers: layers), steps: steps)
  }

  /// Attributes `pairs` of `gpt` (SAEs of any variant).
  public init(gpt: GPT, pairs: [CircuitPair], steps: Int) throws {
    guard steps >= 1 else { throw ExperimentError("integrated gradients need at least 1 step, got \(steps)") }
    guard !pairs.isEmpty else { throw ExperimentError("no SAE pairs to attribute") }
    self.gpt = gpt
    self.steps = steps
    self.pairs = pairs
    alphas = Self.linspace(steps)
    freezeParameters(gpt: gpt, pairs: pairs)
    states = try pairs.map { try IGPairState(pair: $0) }
    let threads = Parallel.threadCount
    workers = (0..<threads).map { _ in IGWorker() }
    let maxTargets = states.map(\.targets).max() ?? 0
    partials = (0..<threads).map { _ in PartialGram(targets: maxTargets, c: gpt.config.nEmbd) }
  }

  /// torch.linspace(0, 1, steps): i/(steps − 1), computed from both ends as PyTorch does; [0] for one step.
  public static func linspace(_ steps: Int) -> [Float] {
    guard steps > 1 else { return [0] }
    let step = Float(1) / Float(steps - 1)
    return (0..<steps).map { i in i < steps / 2 ? Float(i) * step : 1 - Float(steps - 1 - i) * step }
  }

  public func accumulate(_ tokens: IntTensor) throws {
    try compute(tokens) { s, chunks in s.sums.fold(partials.prefix(chunks), decoder: s.decoder.matrix) }
    batchCount += 1
  }

  /// One batch's partial Gram matrices per pair, exported (see `PairAttributor.terms`).
  public func terms(_ tokens: IntTensor) throws -> Data {
    var writer = TermsWriter()
    try compute(tokens) { _, chunks in
      writer.append(chunks)
      for p in partials.prefix(chunks) {
        let (list, values) = p.export()
        writer.append(list)
        writer.append(values)
      }
    }
    return writer.data
  }

  public func fold(_ terms: Data) throws {
    var reader = TermsReader(terms)
    for s in states {
      let chunks = try reader.int()
      guard chunks <= partials.count else {
        throw ExperimentError("attribution terms of \(chunks) chunks for \(partials.count) threads (every process must run as many threads)")
      }
      for p in partials.prefix(chunks) { p.load(targets: try reader.int32s(), values: try reader.doubles()) }
      s.sums.fold(partials.prefix(chunks), decoder: s.decoder.matrix)
    }
    try reader.finish()
    batchCount += 1
  }

  /// Computes one batch's partial Gram matrices pair by pair, handing each pair's to `done` with the number
  /// of partials used (which must clear them).
  private func compute(_ tokens: IntTensor, _ done: (IGPairState, Int) throws -> Void) throws {
    guard tokens.rank == 2 else { throw ExperimentError("token batch must be [B, T], got \(tokens.shape)") }
    let acts = try gpt.activations(tokens, at: Set(pairs.map(\.upstreamKey)))
    for s in states {
      let x = acts[s.pair.upstreamKey]!
      let f0 = withNoGrad { s.pair.upstream.encode(Variable(x)).value }
      let baseline = s.pair.upstream.attributionBaseline(f0)
      let points = SourcePoints(magnitudes: f0, baseline: baseline, steps: steps)
      let rows = points.rows
      let chunks = Swift.min(workers.count, rows)
      let alphas = self.alphas
      Parallel.forRanges(chunks, grain: 1) { range in
        for chunk in range {
          for row in (rows * chunk / chunks)..<(rows * (chunk + 1) / chunks) {
            workers[chunk].run(s, points: points, row: row, alphas: alphas, partial: partials[chunk])
          }
        }
      }
      try done(s, chunks)
    }
  }

  public func attributions() -> [String: Tensor] {
    var out: [String: Tensor] = [:]
    for s in states { out[s.pair.attributionKey] = s.sums.attributions() }
    return out
  }
}
