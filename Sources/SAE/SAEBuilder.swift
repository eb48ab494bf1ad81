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

/// Builds SAEs by the reference's `sae_variant` string. Built-in variants are registered at start-up;
/// `register` adds or replaces one (e.g. an experimental variant in user code).
public enum SAERegistry {
  /// Builds the whole set for a config (staircase variants need all members at once).
  public typealias Builder = (_ config: SAEConfig, _ embeddingSize: Int, _ generator: inout RandomGenerator) throws -> SAESet

  nonisolated(unsafe) private static var builders: [SAEVariant: Builder] = builtInBuilders()

  /// Adds or replaces the builder of `variant`.
  public static func register(_ variant: SAEVariant, builder: @escaping Builder) { builders[variant] = builder }

  /// Variants with a builder.
  public static var registeredVariants: [SAEVariant] { SAEVariant.allCases.filter { builders[$0] != nil } }

  /// Fresh SAEs for `config` on a model with `gpt`'s width, initialised from `seed`.
  public static func build(_ config: SAEConfig, gpt: GPTConfig, seed: UInt64 = 0) throws -> SAESet {
    try config.validate(for: gpt)
    guard let builder = builders[config.saeVariant] else {
      throw SAEError("SAE variant '\(config.saeVariant.rawValue)' has no implementation (available: \(registeredVariants.map(\.rawValue).joined(separator: ", ")))")
    }
    var g = RandomGenerator(seed: seed)
    return try builder(config, gpt.nEmbd, &g)
  }

  static func builtInBuilders() -> [SAEVariant: Builder] {
    var b: [SAEVariant: Builder] = [:]
    let independentTopK: Builder = { config, c, g in
      SAESet(saes: zip(config.saeKeys.indices, config.saeKeys).map { i, key in
        TopKSAE(key: key, featureCount: config.nFeatures[i], embeddingSize: c, k: config.topK![i], generator: &g)
      })
    }
    b[.topK] = independentTopK
    b[.jsae] = independentTopK
    b[.jsaeBlock] = independentTopK
    b[.topKStaircase] = { config, c, g in try topKStaircase(config, c, &g, detach: false) }
    b[.topKStaircaseDetach] = { config, c, g in try topKStaircase(config, c, &g, detach: true) }
    b[.staircaseBlock] = { config, c, g in try topKStaircase(config, c, &g, detach: false) }
    b[.standard] = { config, c, g in StandardSAE.set(config, c, &g, tied: false) }
    b[.standardV2] = { config, c, g in StandardSAE.set(config, c, &g, tied: true) }
    b[.gated] = { config, c, g in GatedSAE.set(config, c, &g, tied: false) }
    b[.gatedV2] = { config, c, g in GatedSAE.set(config, c, &g, tied: true) }
    b[.jumpReLU] = { config, c, g in JumpReLUSAE.independentSet(config, c, &g) }
    b[.jumpReLUStaircase] = { config, c, g in JumpReLUSAE.staircaseSet(config, c, &g) }
    b[.multilayer] = { config, c, g in try MultilayerSAE.set(config, c, &g) }
    return b
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
