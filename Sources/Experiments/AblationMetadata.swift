import Foundation

/// The sidecar `<file>.safetensors.metadata.json` of an ablation result file: the experiment's parameters,
/// the SAE model, and the point's results. Written by `AblationResultFile.write` (keys sorted, pretty
/// printed, as the reference's layout) and read through `AblationResultFile.Sidecar` (by `AblationSeries` and
/// `ablate --resume`); every field is optional on reading, so files of the reference (or with fields this
/// type does not know) read as well.
public struct AblationMetadata: Codable, Equatable, Sendable {
  public var experimentParams: ExperimentParams?
  public var modelConfig: ModelConfig?
  public var timestamp: String?
  /// Set by the writer: the file's stem.
  public var experimentId: String?
  /// Set by the writer: `compact` or `full`.
  public var tensorLayout: String?
  /// Set by the writer from the point.
  public var results: Results?
  /// Set by the writer: the result file's size in bytes and its FNV-1a (64-bit) digest as 16 hex digits
  /// (`AblationResultFile.digest`), so that `ablate --resume` can tell a complete result file from one that
  /// differs (absent in files written before they were recorded).
  public var fileBytes: Int?
  public var fileFNV1a64: String?

  public init(experimentParams: ExperimentParams? = nil, modelConfig: ModelConfig? = nil, timestamp: String? = nil) {
    self.experimentParams = experimentParams
    self.modelConfig = modelConfig
    self.timestamp = timestamp
  }

  enum CodingKeys: String, CodingKey {
    case experimentParams = "experiment_params", modelConfig = "model_config", timestamp
    case experimentId = "experiment_id", tensorLayout = "tensor_layout", results
    case fileBytes = "file_bytes", fileFNV1a64 = "file_fnv1a64"
  }

  /// What the experiment ran (the reference's `experiment_params`).
  public struct ExperimentParams: Codable, Equatable, Sendable {
    public var task: String?
    public var ablator: String?
    /// transblock, ffblock or fflayer (`CircuitPair.placementLabel`).
    public var placement: String?
    public var edgeSelectionStrategy: String?
    public var numEdges: Int?
    public var totalEdges: Int?
    public var upstreamLayerIdx: Int?
    public var upstreamKey: String?
    public var downstreamKey: String?
    public var attributionKey: String?
    public var numPrompts: Int?
    public var sequenceLength: Int?
    public var randomSeed: Int?
    public var checkpoint: String?
    public var dataset: String?
    public var saeVariantLabel: String?
    public var attributions: String?

    public init(task: String? = nil, ablator: String? = nil, placement: String? = nil, edgeSelectionStrategy: String? = nil,
                numEdges: Int? = nil, totalEdges: Int? = nil, upstreamLayerIdx: Int? = nil, upstreamKey: String? = nil,
                downstreamKey: String? = nil, attributionKey: String? = nil, numPrompts: Int? = nil, sequenceLength: Int? = nil,
                randomSeed: Int? = nil, checkpoint: String? = nil, dataset: String? = nil, saeVariantLabel: String? = nil,
                attributions: String? = nil) {
      self.task = task
      self.ablator = ablator
      self.placement = placement
      self.edgeSelectionStrategy = edgeSelectionStrategy
      self.numEdges = numEdges
      self.totalEdges = totalEdges
      self.upstreamLayerIdx = upstreamLayerIdx
      self.upstreamKey = upstreamKey
      self.downstreamKey = downstreamKey
      self.attributionKey = attributionKey
      self.numPrompts = numPrompts
      self.sequenceLength = sequenceLength
      self.randomSeed = randomSeed
      self.checkpoint = checkpoint
      self.dataset = dataset
      self.saeVariantLabel = saeVariantLabel
      self.attributions = attributions
    }

    enum CodingKeys: String, CodingKey {
      case task, ablator, placement, edgeSelectionStrategy = "edge_selection_strategy", numEdges = "num_edges"
      case totalEdges = "total_edges", upstreamLayerIdx = "upstream_layer_idx", upstreamKey = "upstream_key"
      case downstreamKey = "downstream_key", attributionKey = "attribution_key", numPrompts = "num_prompts"
      case sequenceLength = "sequence_length", randomSeed = "random_seed", checkpoint, dataset
      case saeVariantLabelKey = "sae_variant_label", attributions
    }

    /// Lenient: a field of another type than expected reads as absent.
    public init(from decoder: Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      func string(_ k: CodingKeys) -> String? { (try? c.decodeIfPresent(String.self, forKey: k)) ?? nil }
      func int(_ k: CodingKeys) -> Int? { (try? c.decodeIfPresent(Int.self, forKey: k)) ?? nil }
      self.init(task: string(.task), ablator: string(.ablator), placement: string(.placement),
                edgeSelectionStrategy: string(.edgeSelectionStrategy), numEdges: int(.numEdges), totalEdges: int(.totalEdges),
                upstreamLayerIdx: int(.upstreamLayerIdx), upstreamKey: string(.upstreamKey), downstreamKey: string(.downstreamKey),
                attributionKey: string(.attributionKey), numPrompts: int(.numPrompts), sequenceLength: int(.sequenceLength),
                randomSeed: int(.randomSeed), checkpoint: string(.checkpoint), dataset: string(.dataset),
                saeVariantLabel: string(.saeVariantLabelKey), attributions: string(.attributions))
    }

    public func encode(to encoder: Encoder) throws {
      var c = encoder.container(keyedBy: CodingKeys.self)
      try c.encodeIfPresent(task, forKey: .task)
      try c.encodeIfPresent(ablator, forKey: .ablator)
      try c.encodeIfPresent(placement, forKey: .placement)
      try c.encodeIfPresent(edgeSelectionStrategy, forKey: .edgeSelectionStrategy)
      try c.encodeIfPresent(numEdges, forKey: .numEdges)
      try c.encodeIfPresent(totalEdges, forKey: .totalEdges)
      try c.encodeIfPresent(upstreamLayerIdx, forKey: .upstreamLayerIdx)
      try c.encodeIfPresent(upstreamKey, forKey: .upstreamKey)
      try c.encodeIfPresent(downstreamKey, forKey: .downstreamKey)
      try c.encodeIfPresent(attributionKey, forKey: .attributionKey)
      try c.encodeIfPresent(numPrompts, forKey: .numPrompts)
      try c.encodeIfPresent(sequenceLength, forKey: .sequenceLength)
      try c.encodeIfPresent(randomSeed, forKey: .randomSeed)
      try c.encodeIfPresent(checkpoint, forKey: .checkpoint)
      try c.encodeIfPresent(dataset, forKey: .dataset)
      try c.encodeIfPresent(saeVariantLabel, forKey: .saeVariantLabelKey)
      try c.encodeIfPresent(attributions, forKey: .attributions)
    }
  }

  /// The SAE model the experiment ran on (sae.json's fields).
  public struct ModelConfig: Codable, Equatable, Sendable {
    public var nFeatures: [Int]
    public var saeVariant: String
    public var topK: [Int]
    public var saeKeys: [String]

    public init(nFeatures: [Int], saeVariant: String, topK: [Int], saeKeys: [String]) {
      self.nFeatures = nFeatures
      self.saeVariant = saeVariant
      self.topK = topK
      self.saeKeys = saeKeys
    }

    enum CodingKeys: String, CodingKey {
      case nFeatures = "n_features", saeVariant = "sae_variant", topK = "top_k", saeKeys = "sae_keys"
    }
  }

  /// The point's results.
  public struct Results: Codable, Equatable, Sendable {
    public var klFullModelMean: Double?
    public var klDivergenceMean: Double?
    public var executionTime: Double?
    public var usedUnprunedMagnitudes: Bool?

    enum CodingKeys: String, CodingKey {
      case klFullModelMean = "kl_full_model_mean", klDivergenceMean = "kl_divergence_mean"
      case executionTime = "execution_time", usedUnprunedMagnitudes = "used_unpruned_magnitudes"
    }
  }

  /// The sidecar's bytes: JSON with sorted keys, pretty printed (the layout `JSONSerialization` writes, as
  /// earlier versions did).
  public func jsonData() throws -> Data {
    let encoded = try JSONEncoder().encode(self)
    let object = try JSONSerialization.jsonObject(with: encoded)
    return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
  }

  /// Parses a sidecar's bytes; a one-line error names `source` when they are not a JSON object or not a sidecar.
  public static func decode(_ data: Data, source: String) throws -> AblationMetadata {
    let object: Any
    do { object = try JSONSerialization.jsonObject(with: data) } catch {
      throw ExperimentError("\(source) is not valid JSON: \(error.localizedDescription)")
    }
    guard object is [String: Any] else { throw ExperimentError("\(source) is not a JSON object") }
    do {
      return try JSONDecoder().decode(AblationMetadata.self, from: data)
    } catch {
      throw ExperimentError("\(source) is not an ablation sidecar: \(error)")
    }
  }
}
