import Autograd
import Foundation
import GPT
import SAE
import Tensor

/// Manual-ablation attributions (spec section 9; the reference's version cannot run, this is the intended
/// one): for every row, position and upstream feature i with f₀ > ε, zero that one magnitude, run
/// decode → path → encode (the full encoder, TopK included) and add Σ_positions |f₁(ablated) − f₁| into row
/// i, where f₁ is the same computation without the ablation (so that only the feature's effect is
/// counted, not the SAEs' reconstruction error). Source magnitudes come from the clean model.
///
/// Position-wise paths recompute only the ablated position, all ablations of a row in one batch; for a
/// transformer block each ablation reruns the row, and only positions at or after the ablated one are
/// compared (earlier ones cannot change). Rows are split over cores.
public final class ManualAblationAttributor: PairAttributor {
  public let gpt: GPT
  public let pairs: [CircuitPair]
  /// Magnitudes above this count as active.
  public let epsilon: Float
  private let states: [State]

  final class State {
    let pair: CircuitPair
    let weights: PathWeights
    let decoder: DecoderMatrix
    let affine: AffineTopKEncoder?
    var scores: [Double]
    init(pair: CircuitPair) throws {
      self.pair = pair
      weights = try PathWeights(pair: pair)
      decoder = DecoderMatrix(pair.upstream)
      affine = AffineTopKEncoder(pair.downstream)
      scores = [Double](repeating: 0, count: pair.upstream.featureCount * pair.downstream.featureCount)
    }
  }

  public convenience init(model: SparsifiedGPT, layers: [Int]? = nil, epsilon: Float = 0) throws {
    freezeParameters(model)
    try self.init(gpt: model.gpt, pairs: try resolvePairs(model, layers: layers), epsilon: epsilon)
  }

  public init(gpt: GPT, pairs: [CircuitPair], epsilon: Float = 0) throws {
    guard !pairs.isEmpty else { throw ExperimentError("no SAE pairs to attribute") }
    guard epsilon.isFinite && epsilon >= 0 else { throw ExperimentError("the activity threshold ε must be a finite value ≥ 0, got \(epsilon)") }
    self.gpt = gpt
    self.pairs = pairs
    self.epsilon = epsilon
    freezeParameters(gpt: gpt, pairs: pairs)
    states = try pairs.map { try State(pair: $0) }
  }

  public func accumulate(_ tokens: IntTensor) throws {
    try compute(tokens) { s, partial in
      for acc in partial { for e in 0..<acc.count { s.scores[e] += Double(acc[e]) } }
    }
  }

  /// One batch's per-thread score arrays per pair (see `PairAttributor.terms`).
  public func terms(_ tokens: IntTensor) throws -> Data {
    var writer = TermsWriter()
    try compute(tokens) { _, partial in
      writer.append(partial.count)
      for acc in partial { writer.append(acc) }
    }
    return writer.data
  }

  public func fold(_ terms: Data) throws {
    var reader = TermsReader(terms)
    for s in states {
      let count = try reader.int()
      for _ in 0..<count {
        let acc = try reader.floats()
        guard acc.count == s.scores.count else { throw ExperimentError("attribution terms of \(acc.count) scores for \(s.scores.count)") }
        for e in 0..<acc.count { s.scores[e] += Double(acc[e]) }
      }
    }
    try reader.finish()
  }

  /// Computes one batch's per-thread scores pair by pair and hands them to `done`.
  private func compute(_ tokens: IntTensor, _ done: (State, [[Float]]) throws -> Void) throws {
    guard tokens.rank == 2 else { throw ExperimentError("token batch must be [B, T], got \(tokens.shape)") }
    let acts = try gpt.activations(tokens, at: Set(pairs.map(\.upstreamKey)))
    for s in states {
      let f0 = withNoGrad { s.pair.upstream.encode(Variable(acts[s.pair.upstreamKey]!)).value }  // [B, T, F0]
      let rows = f0.shape[0], t = f0.shape[1], fUp = f0.shape[2], fDown = s.pair.downstream.featureCount
      let chunks = Swift.min(Parallel.threadCount, rows)
      var partial = [[Float]](repeating: [], count: chunks)
      let eps = epsilon
      f0.withUnsafeBufferPointer { pf in
        partial.withUnsafeMutableBufferPointer { parts in
          Parallel.forRanges(chunks, grain: 1) { range in
            for chunk in range {
              var acc = [Float](repeating: 0, count: fUp * fDown)
              let worker = Worker(state: s)
              acc.withUnsafeMutableBufferPointer { pa in
                for row in (rows * chunk / chunks)..<(rows * (chunk + 1) / chunks) {
                  worker.run(row: pf.baseAddress! + row * t * fUp, length: t, epsilon: eps, scores: pa.baseAddress!)
                }
              }
              parts[chunk] = acc
            }
          }
        }
      }
      try done(s, partial)
    }
  }

  public func attributions() -> [String: Tensor] {
    var out: [String: Tensor] = [:]
    for s in states {
      out[s.pair.attributionKey] = Tensor(shape: [s.pair.upstream.featureCount, s.pair.downstream.featureCount],
                                          scalars: s.scores.map(Float.init))
    }
    return out
  }

  /// One thread's buffers.
  final class Worker {
    let s: State
    let ws = PathWorkspace(), base = FloatBuffer(), encoded = FloatBuffer(), centered = FloatBuffer()
    let rowX = FloatBuffer()

    init(state: State) { s = state }

    /// Adds the ablation effects of one row (f0 row-major [T, F0]) to `scores` [F0, F1].
    func run(row f0: UnsafePointer<Float>, length t: Int, epsilon: Float, scores: UnsafeMutablePointer<Float>) {
      let c = s.weights.c, fUp = s.pair.upstream.featureCount, fDown = s.pair.downstream.featureCount
      var active: [(pos: Int, feature: Int)] = []
      for pos in 0..<t { for i in 0..<fUp where f0[pos * fUp + i] > epsilon { active.append((pos, i)) } }
      guard !active.isEmpty else { return }
      // Unablated: x = decode(f0), y = path(x), f1 = encode(y).
      let x = rowX.reserve(t * c)
      withExtendedLifetime(s.decoder) {
        let pw = s.decoder.matrix.unsafePointer, pb = s.decoder.bias.unsafePointer
        for pos in 0..<t {
          let xr = x + pos * c
          xr.update(from: pb, count: c)
          for i in 0..<fUp where f0[pos * fUp + i] != 0 {
            let v = f0[pos * fUp + i], w = pw + i * c
            for e in 0..<c { xr[e] += v * w[e] }
          }
        }
      }
      ws.x.reserve(t * c).update(from: x, count: t * c)
      s.weights.forward(ws, rows: t)
      let f1 = base.reserve(t * fDown)
      encode(ws.y.pointer, rows: t, into: f1)
      let pw = s.decoder.matrix.unsafePointer  // alive with `s`
      if s.pair.placement == .transformerBlock {
        let out = encoded.reserve(t * fDown)
        for (pos, i) in active {
          let xin = ws.x.reserve(t * c)
          xin.update(from: x, count: t * c)
          let v = f0[pos * fUp + i], w = pw + i * c, xr = xin + pos * c
          for e in 0..<c { xr[e] -= v * w[e] }
          s.weights.forward(ws, rows: t)
          encode(ws.y.pointer, rows: t, into: out)
          let dst = scores + i * fDown
          for q in pos..<t {
            let a = out + q * fDown, b = f1 + q * fDown
            for j in 0..<fDown { dst[j] += Swift.abs(a[j] - b[j]) }
          }
        }
      } else {
        let n = active.count
        let xin = ws.x.reserve(n * c)
        for (r, (pos, i)) in active.enumerated() {
          let xr = xin + r * c
          xr.update(from: x + pos * c, count: c)
          let v = f0[pos * fUp + i], w = pw + i * c
          for e in 0..<c { xr[e] -= v * w[e] }
        }
        s.weights.forward(ws, rows: n)
        let out = encoded.reserve(n * fDown)
        encode(ws.y.pointer, rows: n, into: out)
        for (r, (pos, i)) in active.enumerated() {
          let a = out + r * fDown, b = f1 + pos * fDown, dst = scores + i * fDown
          for j in 0..<fDown { dst[j] += Swift.abs(a[j] - b[j]) }
        }
      }
    }

    /// The downstream SAE's full encoder on `rows` rows y [rows, C] into out [rows, F1].
    func encode(_ y: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
      let c = s.weights.c, f = s.pair.downstream.featureCount
      if let a = s.affine {
        a.preActivation(y, rows: rows, centered: centered.reserve(rows * c), out)
        let k = a.k
        let vals = UnsafeMutablePointer<Float>.allocate(capacity: k), idx = UnsafeMutablePointer<Int32>.allocate(capacity: k)
        defer { vals.deallocate(); idx.deallocate() }
        for r in 0..<rows {
          let row = out + r * f
          for j in 0..<f where row[j] < 0 { row[j] = 0 }
          TopKKernel.selectRow(row, f, k, vals, idx)
          let threshold = Swift.max(vals[k - 1], Float.leastNonzeroMagnitude)
          for j in 0..<f where row[j] < threshold { row[j] = 0 }
        }
        return
      }
      let input = Tensor(shape: [rows, c], scalars: Array(UnsafeBufferPointer(start: y, count: rows * c)))
      let f1 = withNoGrad { s.pair.downstream.encode(Variable(input)).value }
      f1.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: rows * f) }
    }
  }
}
