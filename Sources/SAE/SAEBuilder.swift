import Autograd
import GPT
import Tensor

/// A built set of SAEs for a checkpoint: one SAE per key (in key order) and the staircase groups they share.
public struct SAESet {
  public var saes: [any SparseAutoencoder]
  public var groups: [SharedDictionary]
  /// For each group, the index of the member that writes `sae.shared.{g}.safetensors` (the largest).
  public var groupWriters: [Int: Int]

  public init(saes: [any SparseAutoencoder], groups: [SharedDictionary] = [], groupWriters: [Int: Int] = [:]) {
    self.saes = saes
    self.groups = groups
    self.groupWriters = groupWriters
  }
}

/// Builds SAEs by the reference's `sae_variant` string: one exhaustive switch over `SAEVariant`, so every
/// variant has exactly one builder, fixed at compile time. There is no run-time registry: a checkpoint's
/// `sae_variant` must name a variant whose files this toolkit reads and writes, so a new variant is a new
/// case of `SAEVariant` (with its traits) and a new line here.
public enum SAEBuilder {
  /// Fresh SAEs for `config` on a model with `gpt`'s width, initialised from `seed` (staircase variants build
  /// all members at once).
  public static func build(_ config: SAEConfig, gpt: GPTConfig, seed: UInt64 = 0) throws -> SAESet {
    try config.validate(for: gpt)
    var g = RandomGenerator(seed: seed)
    let c = gpt.nEmbd
    switch config.saeVariant {
    case .topK, .jsae, .jsaeBlock:
      return SAESet(saes: zip(config.saeKeys.indices, config.saeKeys).map { i, key in
        TopKSAE(key: key, featureCount: config.nFeatures[i], embeddingSize: c, k: config.topK![i], generator: &g)
      })
    case .topKStaircase, .staircaseBlock: return try topKStaircase(config, c, &g, detach: false)
    case .topKStaircaseDetach: return try topKStaircase(config, c, &g, detach: true)
    case .standard: return StandardSAE.set(config, c, &g, tied: false)
    case .standardV2: return StandardSAE.set(config, c, &g, tied: true)
    case .gated: return GatedSAE.set(config, c, &g, tied: false)
    case .gatedV2: return GatedSAE.set(config, c, &g, tied: true)
    case .jumpReLU: return JumpReLUSAE.independentSet(config, c, &g)
    case .jumpReLUStaircase: return JumpReLUSAE.staircaseSet(config, c, &g)
    case .multilayer: return try MultilayerSAE.set(config, c, &g)
    }
  }

  /// Staircase groups: all `act` keys form group 0; FF-block pairs form one group per layer.
  /// Returns for each group its member indices in key order.
  public static func staircaseGroups(_ config: SAEConfig) -> [(group: Int, members: [Int])] {
    if config.placement == .transformerBlock || config.placement == nil {
      return [(0, Array(config.saeKeys.indices))]
    }
    var byLayer: [Int: [Int]] = [:]
    for (i, key) in config.saeKeys.enumerated() { byLayer[key.layer, default: []].append(i) }
    return byLayer.keys.sorted().map { ($0, byLayer[$0]!) }
  }

  static func topKStaircase(_ config: SAEConfig, _ c: Int, _ g: inout RandomGenerator, detach: Bool) throws -> SAESet {
    var saes = [(any SparseAutoencoder)?](repeating: nil, count: config.saeKeys.count)
    var groups: [SharedDictionary] = []
    var writers: [Int: Int] = [:]
    for (group, members) in staircaseGroups(config) {
      let sizes = members.map { config.nFeatures[$0] }
      let largest = members[sizes.firstIndex(of: sizes.max()!)!]
      let shared = SharedDictionary(group: group, featureCount: sizes.max()!, embeddingSize: c, generator: &g)
      groups.append(shared)
      writers[group] = largest
      var previous = 0
      for i in members {
        let f = config.nFeatures[i]
        saes[i] = TopKSAE(key: config.saeKeys[i], featureCount: f, k: config.topK![i], shared: shared,
                          trainableFeatures: detach ? previous..<f : nil)
        previous = f
      }
    }
    return SAESet(saes: saes.map { $0! }, groups: groups, groupWriters: writers)
  }
}
