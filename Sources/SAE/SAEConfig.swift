import Foundation
import GPT
import Tensor

/// The contents of a checkpoint's `sae.json`: dictionary sizes, variant, TopK k per SAE, and SAE keys.
public struct SAEConfig: Codable, Equatable, Sendable {
  public var nFeatures: [Int]
  public var saeVariant: SAEVariant
  /// k per SAE (TopK variants only).
  public var topK: [Int]?
  public var saeKeys: [SAEKey]

  public init(nFeatures: [Int], saeVariant: SAEVariant, topK: [Int]? = nil, saeKeys: [SAEKey]) {
    self.nFeatures = nFeatures
    self.saeVariant = saeVariant
    self.topK = topK
    self.saeKeys = saeKeys
  }

  enum CodingKeys: String, CodingKey {
    case nFeatures = "n_features", saeVariant = "sae_variant", topK = "top_k", saeKeys = "sae_keys"
  }

  public func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(nFeatures, forKey: .nFeatures)
    try c.encode(saeVariant, forKey: .saeVariant)
    if let topK { try c.encode(topK, forKey: .topK) }
    try c.encode(saeKeys, forKey: .saeKeys)
  }

  /// The placement the keys describe.
  public var placement: SAEPlacement? { SAEPlacement(keys: saeKeys) }

  /// Index of `key` in the key list (the `idx` of `sae.{idx}.safetensors`).
  public func index(of key: SAEKey) -> Int? { saeKeys.firstIndex(of: key) }

  /// Throws a one-line error when the fields are inconsistent with each other or with `gpt`.
  public func validate(for gpt: GPTConfig) throws {
    func fail(_ m: String) -> SAEError { SAEError("invalid sae.json: \(m)") }
    guard !saeKeys.isEmpty else { throw fail("sae_keys is empty") }
    guard nFeatures.count == saeKeys.count else {
      throw fail("\(nFeatures.count) n_features for \(saeKeys.count) sae_keys")
    }
    guard Set(saeKeys).count == saeKeys.count else { throw fail("sae_keys contains duplicates") }
    if let bad = nFeatures.first(where: { $0 <= 0 }) { throw fail("n_features contains \(bad)") }
    for key in saeKeys {
      let maxLayer = key.hookPoint == .act ? gpt.nLayer : gpt.nLayer - 1
      guard key.layer <= maxLayer else { throw fail("key \(key) is outside a \(gpt.nLayer)-layer model") }
    }
    if saeVariant.isTopK {
      guard let topK else { throw fail("variant \(saeVariant.rawValue) needs top_k") }
      guard topK.count == saeKeys.count else { throw fail("\(topK.count) top_k values for \(saeKeys.count) sae_keys") }
      for (k, f) in zip(topK, nFeatures) where k < 1 || k > f {
        throw fail("top_k \(k) is outside 1...\(f)")
      }
    }
    if saeVariant.isPaired || placement == .ffBlock {
      guard placement == .ffBlock || placement == .ffLayer else {
        throw fail("variant \(saeVariant.rawValue) needs i_mlpin/i_mlpout or i_residmid/i_residpost key pairs")
      }
    }
    if saeVariant.requiresAscendingSizes {
      guard zip(nFeatures, nFeatures.dropFirst()).allSatisfy({ $0 <= $1 }) else {
        throw fail("staircase sizes must not decrease: \(nFeatures)")
      }
    }
  }

  /// Reads `sae.json` from a checkpoint directory.
  public static func load(from directory: URL) throws -> SAEConfig {
    let url = directory.appendingPathComponent("sae.json")
    guard FileManager.default.fileExists(atPath: url.path) else {
      throw SAEError("no SAE checkpoint at \(directory.path): sae.json is missing")
    }
    let data: Data
    do {
      data = try Data(contentsOf: url)
    } catch {
      throw SAEError("cannot read \(url.path): \(error.localizedDescription)")
    }
    return try decode(data, source: url.path)
  }

  /// Parses `sae.json` bytes (not yet validated against a GPT: `validate(for:)`); errors name `source`.
  public static func decode(_ data: Data, source: String) throws -> SAEConfig {
    do {
      return try JSONDecoder().decode(SAEConfig.self, from: data)
    } catch let e as DecodingError {
      throw SAEError("\(source) is not a valid sae.json: \(describe(e))")
    }
  }

  /// A lower bound of the number of weights the SAEs hold on a GPT of width `nEmbd`: the largest SAE's
  /// encoder (for weight-sharing variants, the shared matrix); nil when it overflows `Int`.
  public func minimumWeightCount(nEmbd: Int) -> Int? {
    guard let largest = nFeatures.max() else { return 0 }
    let (count, overflow) = largest.multipliedReportingOverflow(by: nEmbd)
    return overflow ? nil : count
  }

  /// `sae.json` bytes in the reference's key order and spacing.
  public func jsonData() -> Data {
    var s = "{\"n_features\": [\(nFeatures.map(String.init).joined(separator: ", "))], \"sae_variant\": \"\(saeVariant.rawValue)\""
    if let topK { s += ", \"top_k\": [\(topK.map(String.init).joined(separator: ", "))]" }
    s += ", \"sae_keys\": [\(saeKeys.map { "\"\($0)\"" }.joined(separator: ", "))]}"
    return Data(s.utf8)
  }
}

/// A one-line error from the SAE module (bad configuration, checkpoint or input).
public struct SAEError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description.onOneLine }
}
