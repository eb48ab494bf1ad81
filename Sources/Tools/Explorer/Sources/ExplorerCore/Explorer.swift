import Autograd
import Experiments
import FeatureIndexStore
import Foundation
import GPT
import SAE
import Tensor

/// A token as the pages show it: its id and text.
public struct TokenText: Codable, Sendable, Equatable {
  public var id: Int32
  public var text: String
}

/// One edge of an attribution matrix seen from a feature.
public struct FeatureEdge: Codable, Sendable, Equatable {
  /// The SAE key of the other end.
  public var sae: String
  public var feature: Int
  /// The attribution value of the edge.
  public var attribution: Float
}

/// A top context with its tokens' text.
public struct ContextView: Codable, Sendable, Equatable {
  public var magnitude: Float
  public var position: Int
  public var focus: Int
  public var tokens: [TokenText]
  public var magnitudes: [Float]
}

/// A token of a logit effect.
public struct EffectView: Codable, Sendable, Equatable {
  public var token: TokenText
  public var value: Float
}

/// Everything the feature page shows (`GET /api/features/{key}/{index}`).
public struct FeatureDetail: Codable, Sendable, Equatable {
  public var sae: String
  public var feature: Int
  public var features: Int
  public var dead: Bool
  public var activeCount: Int
  public var frequency: Double
  public var meanMagnitude: Float
  public var maxMagnitude: Float
  public var histogramLower: Float
  public var histogramUpper: Float
  public var histogram: [Int]
  public var contexts: [ContextView]
  public var promoted: [EffectView]
  public var suppressed: [EffectView]
  /// Strongest edges into the feature from the SAE upstream of it (by |attribution|), nil without an attribution
  /// file or without an upstream SAE.
  public var upstream: [FeatureEdge]?
  /// Strongest edges from the feature into the SAE downstream of it.
  public var downstream: [FeatureEdge]?
}

/// One SAE's features (`GET /api/saes/{key}`).
public struct SAEDetail: Codable, Sendable, Equatable {
  public struct Row: Codable, Sendable, Equatable {
    public var feature: Int
    public var activeCount: Int
    public var frequency: Double
    public var meanMagnitude: Float
    public var maxMagnitude: Float
    public var dead: Bool
  }
  public var sae: String
  public var features: Int
  public var l0: Double
  public var deadFeatures: [Int]
  public var rows: [Row]
}

/// The checkpoint and what the explorer serves (`GET /api/checkpoint`).
public struct CheckpointSummary: Codable, Sendable, Equatable {
  public var checkpoint: String
  public var nLayer: Int
  public var nEmbd: Int
  public var vocabSize: Int
  public var blockSize: Int
  public var saeVariant: String
  public var placement: String?
  public var saes: [IndexedSAE]
  public var index: FeatureIndexInfo
  public var attributions: String?
  public var results: String?
}

/// The feature explorer's data: a sparsified checkpoint, its feature index, optionally an attribution file and
/// a directory of ablation results. Every page and JSON answer is computed here; `ExplorerRoutes` serves them.
public final class Explorer: @unchecked Sendable {
  public let checkpoint: URL
  public let model: SparsifiedGPT
  public let tokenizer: any Tokenizer
  public let index: FeatureIndexDatabase
  /// Attribution matrices by pair key, with the file they came from.
  public let attributions: (url: URL, matrices: [String: Tensor])?
  public let results: ExplorerResults?
  /// Edges listed per direction on a feature page.
  public var edgesPerFeature = 10
  /// The longest prompt body accepted, in bytes.
  public let maxPromptBytes = 16_384
  /// Prompts run one at a time (the model's forward is not reentrant).
  private let promptLock = NSLock()
  /// Each pair's ablation ranking of all its edges (as `ablate`: by attribution, seed 125), computed at the first
  /// prompt that needs it; guarded by `promptLock`.
  private var rankings: [String: [Int32]] = [:]

  /// The ablation ranking of a pair's attribution matrix, cached. Called only under `promptLock`.
  func ranking(_ key: String, _ matrix: Tensor) throws -> [Int32] {
    if let cached = rankings[key] { return cached }
    let ranked = try EdgeRanking.byAttribution(matrix, seed: 125)
    rankings[key] = ranked
    return ranked
  }

  /// Loads the checkpoint, its index (default `<checkpoint>/feature-index.sqlite`), the attribution file (its
  /// matrices checked against the SAE sizes) and the results directory. Every problem is a one-line error.
  public init(checkpoint: URL, index indexURL: URL? = nil, attributions: URL? = nil, results: URL? = nil) throws {
    self.checkpoint = checkpoint
    do {
      model = try SparsifiedGPT.load(from: checkpoint)
    } catch {
      throw ExplorerError("cannot load the checkpoint \(checkpoint.path): \(error)")
    }
    tokenizer = try Self.tokenizer(vocabularySize: model.gpt.config.vocabSize)
    index = try FeatureIndexDatabase(url: indexURL ?? checkpoint.appendingPathComponent(FeatureIndexDatabase.defaultFileName))
    let indexed = index.saes.map(\.key), keys = model.keys.map(\.description)
    guard indexed == keys else {
      throw ExplorerError("the feature index \(index.url.path) covers SAEs \(indexed.joined(separator: ", ")), the checkpoint has \(keys.joined(separator: ", "))")
    }
    if let attributions {
      let file: [String: Tensor]
      do {
        file = try AttributionFile.read(attributions).tensors
      } catch {
        throw ExplorerError("cannot read the attribution file: \(error)")
      }
      var matrices: [String: Tensor] = [:]
      for layer in try CircuitPair.layers(of: model) {
        let pair = try CircuitPair(model: model, layer: layer)
        if file[pair.attributionKey] != nil {
          matrices[pair.attributionKey] = try AttributionFile.matrix(file, for: pair, source: attributions.path)
        }
      }
      guard !matrices.isEmpty else {
        throw ExplorerError("\(attributions.path) holds no attributions for this checkpoint's pairs (keys: \(file.keys.sorted().joined(separator: ", ")))")
      }
      self.attributions = (attributions, matrices)
    } else {
      self.attributions = nil
    }
    self.results = try results.map { try ExplorerResults(directory: $0) }
  }

  /// The tokenizer of a model's vocabulary: ascii for V = 128.
  static func tokenizer(vocabularySize: Int) throws -> any Tokenizer {
    guard vocabularySize == ASCIITokenizer().vocabularySize else {
      throw ExplorerError("the explorer reads ASCII-token models (V = 128); this model has V = \(vocabularySize)")
    }
    return ASCIITokenizer()
  }

  /// The text of one token.
  public func text(_ id: Int32) -> TokenText { TokenText(id: id, text: tokenizer.decode([id])) }

  public var summary: CheckpointSummary {
    let c = model.gpt.config
    return CheckpointSummary(
      checkpoint: checkpoint.path, nLayer: c.nLayer, nEmbd: c.nEmbd, vocabSize: c.vocabSize, blockSize: c.blockSize,
      saeVariant: model.config.saeVariant.rawValue, placement: model.placement?.rawValue, saes: index.saes, index: index.info,
      attributions: attributions?.url.path, results: results?.directory.path)
  }

  /// The SAE called `key`, or a 404 error.
  func sae(_ key: String) throws -> IndexedSAE {
    guard let sae = index.saes.first(where: { $0.key == key }) else {
      throw APIError(.notFound, "unknown SAE key '\(key)' (keys: \(index.saes.map(\.key).joined(separator: ", ")))")
    }
    return sae
  }

  public func saeDetail(_ key: String) throws -> SAEDetail {
    let sae = try self.sae(key)
    let list = try index.features(of: key) ?? []
    return SAEDetail(
      sae: key, features: sae.features, l0: sae.l0, deadFeatures: list.filter(\.isDead).map(\.feature),
      rows: list.map {
        SAEDetail.Row(feature: $0.feature, activeCount: $0.activeCount, frequency: $0.frequency,
                      meanMagnitude: $0.meanMagnitude, maxMagnitude: $0.maxMagnitude, dead: $0.isDead)
      })
  }

  /// The feature `index` of SAE `key` ("index" as given in the URL: it must be an integer in range).
  public func featureDetail(_ key: String, _ indexText: String) throws -> FeatureDetail {
    let sae = try self.sae(key)
    guard let feature = Int(indexText) else {
      throw APIError(.badRequest, "feature index '\(indexText)' is not an integer")
    }
    guard feature >= 0 && feature < sae.features else {
      throw APIError(.notFound, "feature \(feature) is out of range: SAE \(key) has features 0..<\(sae.features)")
    }
    guard let s = try index.feature(key, feature) else {
      throw APIError(.notFound, "feature \(feature) of SAE \(key) is not in the index")
    }
    let edges = self.edges(key: key, feature: feature)
    return FeatureDetail(
      sae: key, feature: feature, features: sae.features, dead: s.isDead, activeCount: s.activeCount, frequency: s.frequency,
      meanMagnitude: s.meanMagnitude, maxMagnitude: s.maxMagnitude, histogramLower: s.histogramLower,
      histogramUpper: s.histogramUpper, histogram: s.histogram,
      contexts: s.contexts.map { c in
        ContextView(magnitude: c.magnitude, position: c.position, focus: c.focus, tokens: c.tokens.map(text), magnitudes: c.magnitudes)
      },
      promoted: s.promoted.map { EffectView(token: text($0.token), value: $0.value) },
      suppressed: s.suppressed.map { EffectView(token: text($0.token), value: $0.value) },
      upstream: edges.upstream, downstream: edges.downstream)
  }

  /// The strongest edges (by |attribution|) into and out of a feature.
  func edges(key: String, feature: Int) -> (upstream: [FeatureEdge]?, downstream: [FeatureEdge]?) {
    guard let attributions, let placement = model.placement, let saeKey = SAEKey(key) else { return (nil, nil) }
    var up: [FeatureEdge]?, down: [FeatureEdge]?
    for layer in 0..<model.gpt.config.nLayer {
      let keys = placement.pair(layer: layer)
      guard let m = attributions.matrices[placement.attributionKey(layer: layer)] else { continue }
      let rows = m.shape[0], cols = m.shape[1]
      let s = m.scalars
      if keys.downstream == saeKey && feature < cols {
        up = strongest((0..<rows).map { FeatureEdge(sae: keys.upstream.description, feature: $0, attribution: s[$0 * cols + feature]) })
      }
      if keys.upstream == saeKey && feature < rows {
        down = strongest((0..<cols).map { FeatureEdge(sae: keys.downstream.description, feature: $0, attribution: s[feature * cols + $0]) })
      }
    }
    return (up, down)
  }

  private func strongest(_ edges: [FeatureEdge]) -> [FeatureEdge] {
    Array(edges.filter { $0.attribution != 0 }.sorted {
      abs($0.attribution) != abs($1.attribution) ? abs($0.attribution) > abs($1.attribution) : $0.feature < $1.feature
    }.prefix(edgesPerFeature))
  }

  /// Runs a prompt (`PromptAnalysis.run`), one at a time.
  public func analyse(_ request: PromptRequest) throws -> PromptAnalysis {
    promptLock.lock()
    defer { promptLock.unlock() }
    return try PromptAnalysis.run(request, explorer: self)
  }
}
