import Foundation

/// A place in the GPT's forward pass: a layer and a hook point, written `{layer}_{hookpoint}` (e.g. `0_act`,
/// `3_mlpout`), exactly as the reference's `sae_keys`. Keys order as the forward pass reaches them.
public struct ActivationKey: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
  public var layer: Int
  public var hookPoint: HookPoint

  public init(layer: Int, hookPoint: HookPoint) {
    self.layer = layer
    self.hookPoint = hookPoint
  }

  /// Parses `{layer}_{hookpoint}`; nil when malformed.
  public init?(_ string: String) {
    let parts = string.split(separator: "_", omittingEmptySubsequences: false)
    guard parts.count == 2, let layer = Int(parts[0]), layer >= 0, let point = HookPoint(rawValue: String(parts[1])) else { return nil }
    self.init(layer: layer, hookPoint: point)
  }

  public var description: String { "\(layer)_\(hookPoint.rawValue)" }

  public init(from decoder: Decoder) throws {
    let s = try decoder.singleValueContainer().decode(String.self)
    guard let key = ActivationKey(s) else {
      throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                              debugDescription: "'\(s)' is not an SAE key of the form {layer}_{act|residmid|residpost|mlpin|mlpout}"))
    }
    self = key
  }

  public func encode(to encoder: Encoder) throws {
    var c = encoder.singleValueContainer()
    try c.encode(description)
  }

  public static func < (a: ActivationKey, b: ActivationKey) -> Bool {
    (a.layer, HookPoint.allCases.firstIndex(of: a.hookPoint)!) < (b.layer, HookPoint.allCases.firstIndex(of: b.hookPoint)!)
  }
}
