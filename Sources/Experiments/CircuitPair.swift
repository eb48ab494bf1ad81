import Autograd
import GPT
import SAE
import Tensor

/// The SAE pair bracketing one upstream layer and the part of the model between them (spec section 9):
/// transformer block i: decode(i_act) → block i → encode(i+1_act); FF block: decode(i_residmid) →
/// y = x + mlp(ln_2(x)) → encode(i_residpost); FF layer: decode(i_mlpin) → mlp → encode(i_mlpout).
public struct CircuitPair {
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
      throw ExperimentError("SAE keys \(model.keys.map(\.description).joined(separator: ", ")) are not a transformer-block, FF-block or FF-layer placement")
    }
    guard layer >= 0 && layer < model.gpt.config.nLayer else {
      throw ExperimentError("layer \(layer) is outside the model's blocks 0..<\(model.gpt.config.nLayer)")
    }
    let keys = placement.pair(layer: layer)
    guard let up = model.saes[keys.upstream], let down = model.saes[keys.downstream] else {
      throw ExperimentError("the checkpoint has no SAE pair \(keys.upstream)/\(keys.downstream) for layer \(layer)")
    }
    guard up.embeddingSize == model.gpt.config.nEmbd && down.embeddingSize == model.gpt.config.nEmbd else {
      throw ExperimentError("SAE width does not match the GPT's n_embd \(model.gpt.config.nEmbd) at layer \(layer)")
    }
    self.placement = placement
    self.layer = layer
    self.upstream = up
    self.downstream = down
    self.gpt = model.gpt
  }

  /// A pair from its parts (SAEs of any variant, e.g. built outside a checkpoint). The SAEs' keys are not
  /// checked against `placement`.
  public init(placement: SAEPlacement, layer: Int, upstream: any SparseAutoencoder, downstream: any SparseAutoencoder,
              gpt: GPT) throws {
    guard layer >= 0 && layer < gpt.config.nLayer else {
      throw ExperimentError("layer \(layer) is outside the model's blocks 0..<\(gpt.config.nLayer)")
    }
    guard upstream.embeddingSize == gpt.config.nEmbd && downstream.embeddingSize == gpt.config.nEmbd else {
      throw ExperimentError("SAE width does not match the GPT's n_embd \(gpt.config.nEmbd) at layer \(layer)")
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
      throw ExperimentError("SAE keys \(model.keys.map(\.description).joined(separator: ", ")) are not a transformer-block, FF-block or FF-layer placement")
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
  /// Short placement label used in result file names: transblock, ffblock or fflayer.
  public var placementLabel: String {
    switch placement {
    case .transformerBlock: return "transblock"
    case .ffBlock: return "ffblock"
    case .ffLayer: return "fflayer"
    }
  }

  /// The model piece between the SAEs: the decoded upstream activation x → the downstream SAE's input.
  /// Transformer blocks need x of shape [B, T, C]; the other placements act per position on [..., C].
  public func path(_ x: Variable) -> Variable {
    let b = block
    switch placement {
    case .transformerBlock: return b(x)
    case .ffLayer: return b.mlp(x)
    case .ffBlock: return x + b.mlp(b.ln2(x))
    }
  }
}
