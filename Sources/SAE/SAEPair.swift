import Autograd
import GPT
import Tensor

/// The SAE pair bracketing one upstream layer and the part of the model between and after them (spec
/// sections 5 and 9). Every computation that crosses a pair — evaluation metrics (CE increases), the
/// Jacobian sparsity term, attributions and edge ablation — takes the path and the continuation from here.
///
/// The path between the SAEs, from the decoded upstream activation x to the downstream SAE's input:
/// - transformer block i: decode(i_act) → block i → encode(i+1_act);
/// - FF block i: decode(i_residmid) → y = skip + mlp(ln_2(x)) → encode(i_residpost);
/// - FF layer i: decode(i_mlpin) → mlp → encode(i_mlpout).
///
/// The FF block's skip convention: the residual the block adds to is the decoded input itself (skip = x)
/// wherever the path runs on reconstructions — metrics, attributions, pruned circuits — except for the
/// unpruned circuit of edge ablation (N = every edge), whose skip is the clean resid_mid: with every edge
/// kept, only the MLP branch reads the upstream SAE (spec section 9). `path(_:skip:)` takes the skip,
/// `unprunedDownstreamInput` applies the convention.
///
/// The continuation to logits from the downstream side (`logits(fromDownstream:residMid:)`): transformer
/// block: the downstream activation enters block i+1 (or ln_f); FF layer: clean resid_mid + the MLP-side
/// activation enters block i+1; FF block: the block output enters block i+1.
public struct SAEPair {
  public let placement: SAEPlacement
  /// The upstream layer index (the block the path runs through).
  public let layer: Int
  public let upstream: any SparseAutoencoder
  public let downstream: any SparseAutoencoder
  public let gpt: GPT

  /// The pair at upstream layer `layer` of a sparsified model; throws when the model's keys do not form one
  /// of the three placements or lack either key of the pair.
  public init(model: SparsifiedGPT, layer: Int) throws {
    guard let placement = model.placement else {
      throw SAEError("SAE keys \(model.keys.map(\.description).joined(separator: ", ")) are not a transformer-block, FF-block or FF-layer placement")
    }
    let keys = placement.pair(layer: layer)
    guard layer >= 0 && layer < model.gpt.config.nLayer else {
      throw SAEError("layer \(layer) is outside the model's blocks 0..<\(model.gpt.config.nLayer)")
    }
    guard let up = model.saes[keys.upstream], let down = model.saes[keys.downstream] else {
      throw SAEError("the checkpoint has no SAE pair \(keys.upstream)/\(keys.downstream) for layer \(layer)")
    }
    try self.init(placement: placement, layer: layer, upstream: up, downstream: down, gpt: model.gpt)
  }

  /// A pair from its parts (SAEs of any variant, e.g. built outside a checkpoint). The SAEs' keys are not
  /// checked against `placement`.
  public init(placement: SAEPlacement, layer: Int, upstream: any SparseAutoencoder, downstream: any SparseAutoencoder,
              gpt: GPT) throws {
    guard layer >= 0 && layer < gpt.config.nLayer else {
      throw SAEError("layer \(layer) is outside the model's blocks 0..<\(gpt.config.nLayer)")
    }
    guard upstream.embeddingSize == gpt.config.nEmbd && downstream.embeddingSize == gpt.config.nEmbd else {
      throw SAEError("SAE width does not match the GPT's n_embd \(gpt.config.nEmbd) at layer \(layer)")
    }
    self.placement = placement
    self.layer = layer
    self.upstream = upstream
    self.downstream = downstream
    self.gpt = gpt
  }

  /// Upstream layers for which the model has both SAEs of a pair, ascending.
  public static func layers(of model: SparsifiedGPT) throws -> [Int] {
    guard let placement = model.placement else {
      throw SAEError("SAE keys \(model.keys.map(\.description).joined(separator: ", ")) are not a transformer-block, FF-block or FF-layer placement")
    }
    return (0..<model.gpt.config.nLayer).filter { l in
      let k = placement.pair(layer: l)
      return model.saes[k.upstream] != nil && model.saes[k.downstream] != nil
    }
  }

  /// The block the path runs through.
  public var block: Block { gpt.blocks[layer] }
  public var upstreamKey: SAEKey { placement.pair(layer: layer).upstream }
  public var downstreamKey: SAEKey { placement.pair(layer: layer).downstream }
  /// Key of this pair in attribution files: `i-(i+1)`, `MLP_BLOCK_i` or `MLP_i`.
  public var attributionKey: String { placement.attributionKey(layer: layer) }

  /// The model piece between the SAEs: the decoded upstream activation x → the downstream SAE's input; for
  /// an FF block, `skip` is the residual added to mlp(ln_2(x)) (default: x itself). Transformer blocks need
  /// x of shape [B, T, C]; the other placements act per position on [..., C].
  public func path(_ x: Variable, skip: Variable? = nil) -> Variable {
    let b = block
    switch placement {
    case .transformerBlock: return b(x)
    case .ffLayer: return b.mlp(x)
    case .ffBlock: return (skip ?? x) + b.mlp(b.ln2(x))
    }
  }

  /// The clean activations (besides the upstream key's) that the unpruned circuit and the continuation
  /// need: the downstream key for a transformer block (its clean value is the unpruned circuit's input),
  /// resid_mid for an FF layer (the continuation adds the MLP side to it), none for an FF block.
  public var cleanKeys: [SAEKey] {
    switch placement {
    case .transformerBlock: return [downstreamKey]
    case .ffLayer: return [SAEKey(layer: layer, hookPoint: .residmid)]
    case .ffBlock: return []
    }
  }

  /// The downstream SAE's input in the unpruned circuit (every edge kept): transformer block: the clean
  /// downstream activation; FF layer: mlp(decoded); FF block: clean resid_mid + mlp(ln_2(decoded)) (the skip
  /// stays clean). `clean` holds the upstream key's and `cleanKeys`' activations.
  public func unprunedDownstreamInput(decoded: Variable, clean: [SAEKey: Tensor]) -> Variable {
    switch placement {
    case .transformerBlock: return Variable(clean[downstreamKey]!)
    case .ffLayer: return path(decoded)
    case .ffBlock: return path(decoded, skip: Variable(clean[upstreamKey]!))
    }
  }

  /// Logits [..., V] continuing from the downstream side: `x` is the activation at the downstream key (e.g.
  /// the downstream SAE's reconstruction); `residMid` the clean resid_mid of the layer (FF layer only).
  public func logits(fromDownstream x: Variable, residMid: Variable?) -> Variable {
    let residual: Variable
    switch placement {
    case .transformerBlock, .ffBlock: residual = x
    case .ffLayer:
      guard let residMid else { preconditionFailure("an FF-layer pair continues from resid_mid + the MLP output: pass residMid") }
      residual = residMid + x
    }
    return gpt.forward(residual: residual, startAt: layer + 1)
  }
}
