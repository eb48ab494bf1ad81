import Autograd
import Foundation
import GPT
import Tensor

/// Evaluation metrics of a sparsified GPT on one batch (spec section 7).
public struct SparsifiedMetrics: Sendable {
  /// Clean cross-entropy.
  public var ceLoss: Float
  /// Mean nonzero features per token, per SAE key.
  public var l0: [SAEKey: Float]
  /// Total SAE loss (reconstruct + sparsity + aux), per key.
  public var saeLoss: [SAEKey: Float]
  /// Reconstruction loss, per key.
  public var reconstruct: [SAEKey: Float]
  /// Mean L1 norm of each SAE's input.
  public var streamL1: [SAEKey: Float]
  /// CE(patched) − CE(clean), keyed by SAE key (one per SAE) or by each pair's input-side key.
  public var ceIncrease: [SAEKey: Float]
  /// CE with every SAE patched at once, minus clean CE.
  public var compoundCEIncrease: Float
  /// For staircase variants, L0 per chunk of min(n_features) features, per key.
  public var chunkL0: [SAEKey: [Float]]
  /// For `jsae` / `jsae_block` models, the pair's Jacobian sparsity term J_total on the batch (spec
  /// section 8, without λ), keyed by the pair's input-side key.
  public var jacobianL1: [SAEKey: Float] = [:]

  /// The mean of several batches' metrics (every field averaged).
  public static func mean(_ batches: [SparsifiedMetrics]) -> SparsifiedMetrics {
    precondition(!batches.isEmpty, "no batches to average")
    let n = Float(batches.count)
    func avg(_ f: (SparsifiedMetrics) -> [SAEKey: Float]) -> [SAEKey: Float] {
      var out: [SAEKey: Double] = [:]
      for b in batches { for (k, v) in f(b) { out[k, default: 0] += Double(v) } }
      return out.mapValues { Float($0 / Double(n)) }
    }
    var chunks: [SAEKey: [Float]] = [:]
    for b in batches {
      for (k, v) in b.chunkL0 {
        chunks[k] = chunks[k].map { zip($0, v).map { $0 + $1 / n } } ?? v.map { $0 / n }
      }
    }
    return SparsifiedMetrics(
      ceLoss: Float(batches.reduce(0.0) { $0 + Double($1.ceLoss) } / Double(n)),
      l0: avg(\.l0), saeLoss: avg(\.saeLoss), reconstruct: avg(\.reconstruct), streamL1: avg(\.streamL1),
      ceIncrease: avg(\.ceIncrease),
      compoundCEIncrease: Float(batches.reduce(0.0) { $0 + Double($1.compoundCEIncrease) } / Double(n)),
      chunkL0: chunks, jacobianL1: avg(\.jacobianL1))
  }
}

extension SparsifiedMetrics {
  /// The first NaN or infinite metric, naming its SAE ("SAE 1_act's reconstruction loss is nan"): the
  /// clean CE loss first (a fault of the GPT), then each key in `keys` order, then the compound increase;
  /// nil when every value is finite.
  public func firstNonFinite(keys: [SAEKey]) -> String? {
    if !ceLoss.isFinite { return "the clean CE loss (no SAE patched) is \(ceLoss)" }
    let fields: [(String, [SAEKey: Float])] = [
      ("L0", l0), ("SAE loss", saeLoss), ("reconstruction loss", reconstruct), ("stream L1", streamL1),
      ("CE-loss increase", ceIncrease), ("Jacobian L1", jacobianL1)]
    for key in keys {
      for (name, values) in fields {
        if let v = values[key], !v.isFinite { return "SAE \(key)'s \(name) is \(v)" }
      }
      if let chunks = chunkL0[key], let v = chunks.first(where: { !$0.isFinite }) { return "SAE \(key)'s chunk L0 is \(v)" }
    }
    if !compoundCEIncrease.isFinite { return "the compound CE-loss increase (every SAE patched) is \(compoundCEIncrease)" }
    return nil
  }
}

extension SparsifiedGPT {
  /// Whether CE increases are reported per pair (JSAE and FF-block models) instead of per SAE.
  public var reportsPairs: Bool {
    placement == .ffBlock || (placement == .ffLayer && config.saeVariant.isPaired)
  }

  /// Whether the metrics include the Jacobian sparsity term (`jsae`, `jsae_block`).
  public var reportsJacobian: Bool {
    config.saeVariant.jacobianPlacement != nil && config.saeVariant.jacobianPlacement == placement
  }

  /// The keys CE increases are reported under: every key, or each pair's input-side key.
  public var ceIncreaseKeys: [SAEKey] {
    guard reportsPairs, let p = placement else { return keys }
    return keys.filter { $0.hookPoint == p.pairPoints.upstream }
  }

  /// Metrics of one batch (no gradients).
  public func metrics(_ tokens: IntTensor, targets: IntTensor) throws -> SparsifiedMetrics {
    try withNoGrad {
      var extra: [SAEKey] = placement == .ffLayer ? keys.filter { $0.hookPoint == .mlpin }.map { SAEKey(layer: $0.layer, hookPoint: .residmid) } : []
      if reportsJacobian { extra += ceIncreaseKeys }
      let saeOutputs = SAEOutputs()
      let pass = try gpt.run(tokens, record: Set(extra), replace: saeEdits(patch: [], outputs: saeOutputs))
      let clean = pass.logits!.crossEntropy(targets: targets).value.scalar
      let outputs = saeOutputs.values
      let recorded = pass.activations.mapValues(\.value)
      var m = SparsifiedMetrics(ceLoss: clean, l0: [:], saeLoss: [:], reconstruct: [:], streamL1: [:], ceIncrease: [:],
                                compoundCEIncrease: 0, chunkL0: [:])
      let chunk = config.nFeatures.min()!
      let staircase = config.saeVariant.sharesWeights
      for key in keys {
        let o = outputs[key]!
        m.l0[key] = o.losses.l0
        m.saeLoss[key] = o.losses.total.value.scalar
        m.reconstruct[key] = o.losses.reconstruct.value.scalar
        m.streamL1[key] = o.losses.xL1
        if staircase { m.chunkL0[key] = o.magnitudes.l0PerChunk(chunk) }
      }
      func ce(_ logits: Variable) -> Float { logits.crossEntropy(targets: targets).value.scalar - clean }
      for key in ceIncreaseKeys {
        let i = key.layer
        switch (placement, reportsPairs) {
        case (.transformerBlock?, _), (nil, _):
          m.ceIncrease[key] = ce(gpt.forward(residual: outputs[key]!.reconstruction, startAt: i))
        case (.ffLayer?, false):
          // One SAE patched (its partner may be absent): the MLP side of layer i is mlp(x̂) (input SAE) or x̂
          // (output SAE), added to the clean resid_mid.
          let residMid = Variable(recorded[SAEKey(layer: i, hookPoint: .residmid)]!)
          let x = outputs[key]!.reconstruction
          let mlpOut = key.hookPoint == .mlpin ? gpt.blocks[i].mlp(x) : x
          m.ceIncrease[key] = ce(gpt.forward(residual: residMid + mlpOut, startAt: i + 1))
        case (.ffLayer?, true), (.ffBlock?, _):
          // The pair patched: the input SAE's reconstruction through the path, then the output SAE.
          let pair = try SAEPair(model: self, layer: i)
          let residMid = placement == .ffLayer ? Variable(recorded[SAEKey(layer: i, hookPoint: .residmid)]!) : nil
          let y = pair.downstream(pair.path(outputs[key]!.reconstruction)).reconstruction
          m.ceIncrease[key] = ce(pair.logits(fromDownstream: y, residMid: residMid))
        }
      }
      if reportsJacobian, let p = placement {
        for key in ceIncreaseKeys {
          let outKey = p.pair(layer: key.layer).downstream
          m.jacobianL1[key] = try JacobianSparsity.pairTerm(try SAEPair(model: self, layer: key.layer), cleanInput: recorded[key]!,
                                                        inIndices: outputs[key]!.topKIndices!,
                                                        outIndices: outputs[outKey]!.topKIndices!).value.scalar
        }
      }
      m.compoundCEIncrease = ce(try run(tokens, patch: Set(keys)).logits)
      return m
    }
  }
}
