import Foundation
import GPT
import SAE

/// A named SAE architecture preset, as the reference's `SAEConfig` option: the GPT architecture it attaches
/// to (a `GPTConfig` preset name) and the fields of `sae.json`. JSON keys follow the reference.
public struct SAEModelConfig: Codable, Equatable, Sendable {
  public var name: String
  /// Name of the GPT architecture preset (`GPTConfig.preset`).
  public var gptConfig: String
  /// Dictionary size per SAE, in key order.
  public var nFeatures: [Int]
  public var saeVariant: SAEVariant
  /// k per SAE (TopK variants only).
  public var topK: [Int]?
  public var saeKeys: [SAEKey]

  public init(name: String, gptConfig: String, nFeatures: [Int], saeVariant: SAEVariant, topK: [Int]? = nil, saeKeys: [SAEKey]) {
    self.name = name
    self.gptConfig = gptConfig
    self.nFeatures = nFeatures
    self.saeVariant = saeVariant
    self.topK = topK
    self.saeKeys = saeKeys
  }

  enum CodingKeys: String, CodingKey {
    case name, gptConfig = "gpt_config", nFeatures = "n_features", saeVariant = "sae_variant", topK = "top_k", saeKeys = "sae_keys"
  }

  /// Decodes the fields; `gpt_config` may also be an object with a `name` (as the reference's config dumps).
  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    name = try c.decode(String.self, forKey: .name)
    if let named = try? c.decode(String.self, forKey: .gptConfig) {
      gptConfig = named
    } else {
      gptConfig = try c.decode(NamedObject.self, forKey: .gptConfig).name
    }
    nFeatures = try c.decode([Int].self, forKey: .nFeatures)
    saeVariant = try c.decode(SAEVariant.self, forKey: .saeVariant)
    topK = try c.decodeIfPresent([Int].self, forKey: .topK)
    saeKeys = try c.decode([SAEKey].self, forKey: .saeKeys)
  }

  struct NamedObject: Decodable { var name: String }

  /// The `sae.json` contents of this architecture.
  public var saeConfig: SAEConfig {
    SAEConfig(nFeatures: nFeatures, saeVariant: saeVariant, topK: topK, saeKeys: saeKeys)
  }

  /// The GPT architecture this SAE model attaches to.
  public func architecture() throws -> GPTConfig {
    guard let c = GPTConfig.preset(gptConfig) else {
      throw TrainingError("SAE model \(name): unknown GPT architecture '\(gptConfig)' (known: \(GPTConfig.presetNames.joined(separator: ", ")))")
    }
    return c
  }

  /// Throws a one-line error when the fields are inconsistent (with each other or with the GPT architecture).
  public func validate() throws {
    let gpt = try architecture()
    do {
      try saeConfig.validate(for: gpt)
    } catch let e as SAEError {
      throw TrainingError("SAE model \(name): \(e.description)")
    }
  }
}

extension SAEModelConfig {
  /// `0_act … {n−1}_act`: the residual stream between transformer blocks.
  public static func actKeys(_ n: Int) -> [SAEKey] { (0..<n).map { SAEKey(layer: $0, hookPoint: .act) } }
  /// `i_mlpin, i_mlpout` for each of `layers` layers (FF-layer pairs).
  public static func mlpLayerKeys(_ layers: Int) -> [SAEKey] {
    (0..<layers).flatMap { [SAEKey(layer: $0, hookPoint: .mlpin), SAEKey(layer: $0, hookPoint: .mlpout)] }
  }
  /// `i_residmid, i_residpost` for each of `layers` layers (FF-block pairs).
  public static func mlpBlockKeys(_ layers: Int) -> [SAEKey] {
    (0..<layers).flatMap { [SAEKey(layer: $0, hookPoint: .residmid), SAEKey(layer: $0, hookPoint: .residpost)] }
  }

  /// Names of the reference's SAE model presets (plus `multilayerx8.shakespeare_64x4`, see `preset`).
  public static let presetNames = [
    "topk-10-x8.shakespeare_64x4", "topk-x8.shakespeare_64x4", "top5.shakespeare_64x4", "top20.shakespeare_64x4",
    "topk-x40.shakespeare_64x4",
    "topk-staircase-10-x8-share.shakespeare_64x4", "topk-staircase-10-x8-noshare.shakespeare_64x4",
    "topk-staircase-10-x8-detach.shakespeare_64x4",
    "standardx8.shakespeare_64x4", "standardx40.shakespeare_64x4", "staircasex8.shakespeare_64x4",
    "multilayerx8.shakespeare_64x4",
    "jumprelu-x8.shakespeare_64x4", "jumprelu-x16.shakespeare_64x4", "jumprelu-staircase-x8.shakespeare_64x4",
    "topk.mlplayer.shakespeare_64x4", "mlp.topkx8.shakespeare_64x4", "mlp.standardx8.shakespeare_64x4",
    "topk.mlpblock.shakespeare_64x4", "topk.tblock.shakespeare_64x4", "staircase-pairsx8.shakespeare_64x4",
    "jsae.topkx8.shakespeare_64x4", "standardx16.tiny_32x4", "jumprelu-x32.stories_256x4",
  ]

  /// The SAE model preset with this name (compiled in; `config/sae/models/*.json` mirrors them), or nil.
  ///
  /// `topk.tblock.shakespeare_64x4` uses the five keys `0…4_act` (the reference lists eight, a bug).
  /// `multilayerx8.shakespeare_64x4` is not a reference name: the reference's `multilayer.shakespeare_64x4`
  /// training preset points at `staircasex8` (plain `standard` SAEs) because no variant string builds its
  /// multilayer SAE; this preset gives that run the intended `multilayer` variant with the same sizes.
  public static func preset(_ name: String) -> SAEModelConfig? {
    let ascii = "ascii_64x4"
    let x8 = [Int](repeating: 512, count: 5), stairs = [512, 1024, 1536, 2048, 2560]
    func topK(_ features: [Int], k: Int, keys: [SAEKey] = actKeys(5), variant: SAEVariant = .topK) -> SAEModelConfig {
      SAEModelConfig(name: name, gptConfig: ascii, nFeatures: features, saeVariant: variant,
                     topK: [Int](repeating: k, count: features.count), saeKeys: keys)
    }
    func plain(_ variant: SAEVariant, _ features: [Int], gpt: String = ascii, keys: [SAEKey] = actKeys(5)) -> SAEModelConfig {
      SAEModelConfig(name: name, gptConfig: gpt, nFeatures: features, saeVariant: variant, saeKeys: keys)
    }
    let x8Pairs = [Int](repeating: 512, count: 8)
    switch name {
    case "topk-10-x8.shakespeare_64x4", "topk-x8.shakespeare_64x4": return topK(x8, k: 10)
    case "top5.shakespeare_64x4": return topK(x8, k: 5)
    case "top20.shakespeare_64x4": return topK(x8, k: 20)
    case "topk-x40.shakespeare_64x4": return topK([Int](repeating: 2560, count: 5), k: 10)
    case "topk-staircase-10-x8-share.shakespeare_64x4": return topK(stairs, k: 10, variant: .topKStaircase)
    case "topk-staircase-10-x8-noshare.shakespeare_64x4": return topK(stairs, k: 10)
    case "topk-staircase-10-x8-detach.shakespeare_64x4": return topK(stairs, k: 10, variant: .topKStaircaseDetach)
    case "standardx8.shakespeare_64x4": return plain(.standard, x8)
    case "standardx40.shakespeare_64x4": return plain(.standard, [Int](repeating: 2560, count: 5))
    case "staircasex8.shakespeare_64x4": return plain(.standard, stairs)
    case "multilayerx8.shakespeare_64x4": return plain(.multilayer, stairs)
    case "jumprelu-x8.shakespeare_64x4": return plain(.jumpReLU, x8)
    case "jumprelu-x16.shakespeare_64x4": return plain(.jumpReLU, [256, 256, 256, 1024, 256])
    case "jumprelu-staircase-x8.shakespeare_64x4": return plain(.jumpReLUStaircase, stairs)
    case "topk.mlplayer.shakespeare_64x4", "mlp.topkx8.shakespeare_64x4": return topK(x8Pairs, k: 10, keys: mlpLayerKeys(4))
    case "mlp.standardx8.shakespeare_64x4": return plain(.standard, x8Pairs, keys: mlpLayerKeys(4))
    case "topk.mlpblock.shakespeare_64x4": return topK(x8Pairs, k: 10, keys: mlpBlockKeys(4))
    case "topk.tblock.shakespeare_64x4": return topK(x8, k: 10)
    case "staircase-pairsx8.shakespeare_64x4":
      return topK([512, 1024, 512, 1024, 512, 1024, 512, 1024], k: 10, keys: mlpBlockKeys(4), variant: .staircaseBlock)
    case "jsae.topkx8.shakespeare_64x4": return topK(x8Pairs, k: 10, keys: mlpLayerKeys(4), variant: .jsae)
    case "standardx16.tiny_32x4": return plain(.standard, x8, gpt: "tiktoken_32x4")
    case "jumprelu-x32.stories_256x4": return plain(.jumpReLU, [Int](repeating: 8192, count: 5), gpt: "tiktoken_256x4")
    default: return nil
    }
  }
}
