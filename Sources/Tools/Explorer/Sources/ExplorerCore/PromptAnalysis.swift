import Autograd
import Experiments
import FeatureIndexStore
import Foundation
import GPT
import SAE
import Tensor

/// A prompt to analyse (`POST /api/prompt`).
public struct PromptRequest: Codable, Sendable, Equatable {
  /// The prompt text (1 to block-size tokens).
  public var text: String
  /// Edges kept per SAE pair in the pruned circuit (default 20).
  public var edges: Int?

  public init(text: String, edges: Int? = nil) {
    self.text = text
    self.edges = edges
  }
}

/// What a prompt does to the model: per token and per SAE the features that fire; between consecutive SAEs the
/// strongest attribution edges among the active features; and for each pair, the circuit pruned to those top
/// edges run through the same pruned forward as `ablate` (`PairAblation`), with its KL divergence against the
/// full model and against the unpruned circuit.
public struct PromptAnalysis: Codable, Sendable, Equatable {
  /// A feature that fires on one token.
  public struct Activation: Codable, Sendable, Equatable {
    public var feature: Int
    public var magnitude: Float
  }

  /// The features of one SAE at every token (largest magnitude first).
  public struct Layer: Codable, Sendable, Equatable {
    public var sae: String
    public var tokens: [[Activation]]
  }

  /// An edge of the prompt's graph.
  public struct Edge: Codable, Sendable, Equatable {
    public var upstreamSae: String
    public var upstream: Int
    public var downstreamSae: String
    public var downstream: Int
    public var attribution: Float
  }

  /// One SAE pair's pruned circuit on the prompt.
  public struct Pair: Codable, Sendable, Equatable {
    public var layer: Int
    public var upstreamSae: String
    public var downstreamSae: String
    /// Edges between features active on the prompt (both ends fire somewhere in it).
    public var activeEdges: Int
    /// Edges kept: the top `edges` by attribution, active edges first (those drawn).
    public var keptEdges: Int
    /// Mean over positions of KL(full model ‖ pruned circuit).
    public var klFullModel: Float
    /// Mean over positions of KL(unpruned circuit ‖ pruned circuit).
    public var klCircuit: Float
    public var edges: [Edge]
  }

  public var tokens: [TokenText]
  public var layers: [Layer]
  /// Edges kept per pair, as asked.
  public var edges: Int
  /// Pairs with attributions (empty without an attribution file).
  public var pairs: [Pair]
  /// Why there are no pairs, when there are none.
  public var note: String?
  public var seconds: Double

  /// The longest `edges` accepted.
  public static let maxEdges = 1000

  /// Checks the request (400 errors for an empty or over-long prompt, a bad edge count), runs the model and the
  /// pruned circuits.
  static func run(_ request: PromptRequest, explorer: Explorer) throws -> PromptAnalysis {
    let start = Date()
    let model = explorer.model
    guard !request.text.isEmpty else { throw APIError(.badRequest, "the prompt is empty") }
    let ids = explorer.tokenizer.encode(request.text)
    guard !ids.isEmpty else { throw APIError(.badRequest, "the prompt is empty") }
    let block = model.gpt.config.blockSize
    guard ids.count <= block else {
      throw APIError(.badRequest, "the prompt has \(ids.count) tokens, more than the model's block size \(block)")
    }
    let n = request.edges ?? 20
    guard n >= 1 && n <= maxEdges else { throw APIError(.badRequest, "edges must be within 1...\(maxEdges), got \(n)") }
    let tokens = IntTensor(shape: [1, ids.count], scalars: ids)
    let outputs = try withNoGrad { try model.run(tokens).outputs }
    // The full model's logits as `ablate` computes them.
    let logits = try withNoGrad { try model.gpt(tokens).value }
    var layers: [Layer] = []
    var active: [SAEKey: Set<Int>] = [:]
    for key in model.keys {
      guard let m = outputs[key]?.magnitudes else { throw ExplorerError("no output recorded for SAE \(key)") }
      var perToken: [[Activation]] = []
      for t in 0..<ids.count {
        let list = (m.offsets[t]..<m.offsets[t + 1]).map { Activation(feature: Int(m.indices[$0]), magnitude: m.values[$0]) }
        perToken.append(list.sorted { $0.magnitude != $1.magnitude ? $0.magnitude > $1.magnitude : $0.feature < $1.feature })
        active[key, default: []].formUnion(list.map(\.feature))
      }
      layers.append(Layer(sae: key.description, tokens: perToken))
    }
    var pairs: [Pair] = []
    var note: String?
    if let attributions = explorer.attributions {
      for layer in try CircuitPair.layers(of: model) {
        let pair = try CircuitPair(model: model, layer: layer)
        guard let matrix = attributions.matrices[pair.attributionKey] else { continue }
        let up = active[pair.upstreamKey] ?? [], down = active[pair.downstreamKey] ?? []
        let cols = matrix.shape[1], total = matrix.count
        // The ablation ranking (EdgeRanking, seed 125 as `ablate`), with the edges between active features moved
        // to the front in their ranked order: the top N of it are the drawn edges.
        let ranked = try explorer.ranking(pair.attributionKey, matrix)
        var upActive = [Bool](repeating: false, count: matrix.shape[0]), downActive = [Bool](repeating: false, count: cols)
        for f in up where f < upActive.count { upActive[f] = true }
        for f in down where f < cols { downActive[f] = true }
        var activeOrder: [Int32] = [], rest: [Int32] = []
        rest.reserveCapacity(ranked.count)
        for e in ranked {
          if upActive[Int(e) / cols] && downActive[Int(e) % cols] { activeOrder.append(e) } else { rest.append(e) }
        }
        let order = activeOrder + rest
        let kept = Swift.min(n, total)
        let s = matrix.scalars
        let drawn = activeOrder.prefix(kept).map { e in
          Edge(upstreamSae: pair.upstreamKey.description, upstream: Int(e) / cols, downstreamSae: pair.downstreamKey.description,
               downstream: Int(e) % cols, attribution: s[Int(e)])
        }
        let ablation = try PairAblation(pair: pair, prompts: tokens, cleanLogits: logits)
        var klFull: Float = .nan, klCircuit: Float = .nan
        try ablation.sweep(order: order, counts: [kept]) { point in
          klFull = point.klFullModelMean
          klCircuit = point.klCircuitMean
        }
        pairs.append(Pair(layer: layer, upstreamSae: pair.upstreamKey.description, downstreamSae: pair.downstreamKey.description,
                          activeEdges: activeOrder.count, keptEdges: kept, klFullModel: klFull, klCircuit: klCircuit,
                          edges: Array(drawn)))
      }
    } else {
      note = "no attribution file given (explore --attributions FILE): no edges or pruned circuits"
    }
    return PromptAnalysis(tokens: ids.map(explorer.text), layers: layers, edges: n, pairs: pairs, note: note,
                          seconds: Date().timeIntervalSince(start))
  }
}
