/// The reference's `sae_variant` strings.
public enum SAEVariant: String, Codable, Sendable, CaseIterable {
  case standard
  case standardV2 = "standard_v2"
  case gated
  case gatedV2 = "gated_v2"
  case jumpReLU = "jumprelu"
  case jumpReLUStaircase = "jumprelu_staircase"
  case topK = "topk"
  case topKStaircase = "topk_staircase"
  case topKStaircaseDetach = "topk_staircase_detach"
  case staircaseBlock = "staircase_block"
  case jsae
  case jsaeBlock = "jsae_block"
  case multilayer

  /// Variants whose SAEs keep the k largest features (sae.json carries `top_k`).
  public var isTopK: Bool {
    switch self {
    case .topK, .topKStaircase, .topKStaircaseDetach, .staircaseBlock, .jsae, .jsaeBlock: return true
    default: return false
    }
  }

  /// Variants trained in (input, output) pairs with one loss and one CE increase per pair.
  public var isPaired: Bool { self == .jsae || self == .jsaeBlock || self == .staircaseBlock }
}
