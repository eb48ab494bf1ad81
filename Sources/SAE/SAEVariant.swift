/// The reference's `sae_variant` strings.
///
/// Every trait the toolkit asks of a variant is a property here, answered by an exhaustive switch, so that a
/// new case cannot be added without deciding each trait (the compiler lists every switch to extend). The set
/// of variants is closed on purpose: checkpoints name them by these strings, and the builders, loss layouts
/// and metrics of each are part of the file format (see `SAEBuilder`).
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
    case .standard, .standardV2, .gated, .gatedV2, .jumpReLU, .jumpReLUStaircase, .multilayer: return false
    }
  }

  /// Variants trained in (input, output) pairs with one loss and one CE increase per pair.
  public var isPaired: Bool {
    switch self {
    case .jsae, .jsaeBlock, .staircaseBlock: return true
    case .standard, .standardV2, .gated, .gatedV2, .jumpReLU, .jumpReLUStaircase, .topK, .topKStaircase,
         .topKStaircaseDetach, .multilayer: return false
    }
  }

  /// The placement whose pairs carry the Jacobian sparsity term (JSAE: `jsae` on FF layers, `jsae_block` on
  /// FF blocks); nil for variants without it. For these variants the sparsity coefficients weight the
  /// Jacobian term (one λ per pair) instead of a per-SAE sparsity loss.
  public var jacobianPlacement: SAEPlacement? {
    switch self {
    case .jsae: return .ffLayer
    case .jsaeBlock: return .ffBlock
    case .standard, .standardV2, .gated, .gatedV2, .jumpReLU, .jumpReLUStaircase, .topK, .topKStaircase,
         .topKStaircaseDetach, .staircaseBlock, .multilayer: return nil
    }
  }

  /// Whether the variant is a JSAE (`jsae`, `jsae_block`): trained with the Jacobian sparsity term.
  public var isJSAE: Bool { jacobianPlacement != nil }

  /// Whether the SAEs of a group share parameters (staircase and multilayer variants): they are
  /// checkpointed per sharing group, and their metrics report L0 per chunk of the smallest dictionary.
  public var sharesWeights: Bool {
    switch self {
    case .topKStaircase, .topKStaircaseDetach, .staircaseBlock, .jumpReLUStaircase, .multilayer: return true
    case .standard, .standardV2, .gated, .gatedV2, .jumpReLU, .topK, .jsae, .jsaeBlock: return false
    }
  }

  /// Whether dictionary sizes must not decrease along the keys (one staircase over every key; `staircase_block`
  /// alternates sizes within its per-layer groups).
  public var requiresAscendingSizes: Bool {
    switch self {
    case .topKStaircase, .topKStaircaseDetach, .jumpReLUStaircase, .multilayer: return true
    case .standard, .standardV2, .gated, .gatedV2, .jumpReLU, .topK, .staircaseBlock, .jsae, .jsaeBlock: return false
    }
  }
}
