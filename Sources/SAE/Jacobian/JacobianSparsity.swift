import Autograd
import Foundation
import GPT
import Tensor

/// The Jacobian sparsity term of JSAE training and evaluation (spec section 8).
///
/// For an SAE pair around an FF layer (`i_mlpin` → `i_mlpout`) or an FF block (`i_residmid` →
/// `i_residpost`), each token's Jacobian J_t [k_out, k_in] maps the input SAE's k active features
/// (`in`, its top-k indices on the clean input) to the output SAE's encoder pre-activations at its k
/// active features (`out`, its top-k indices on the clean output):
/// - FF layer: J = W_enc_out[:, out]ᵀ · W_cproj · diag(gelu′(h)) · W_cfc · W_dec_in[in]ᵀ;
/// - FF block: J = (W_dec_mid[in] · W_enc_post[:, out])ᵀ + W_enc_post[:, out]ᵀ · W_cproj · diag(gelu′(h)) ·
///   W_cfc · J_ln2(x_mid) · W_dec_mid[in]ᵀ, with the exact Jacobian of ln_2 (LayerNorm, DynamicTanh or
///   identity) at the clean resid_mid.
///
/// Every derivative of the GPT (gelu′ at the clean c_fc output h, ln_2's Jacobian) is taken at the clean
/// activations of the unpatched forward and treated as a constant; GPT weights are frozen. The term is
/// J_total = Σ over tokens of Σ_ab |J_t[a, b]| / k², k of the input SAE. Its gradient flows to the input
/// SAE's W_dec and the output SAE's W_enc.
public enum JacobianSparsity {
  /// J_total of an FF-layer pair as a scalar autograd node whose inputs are `inSAE.wDec` and
  /// `outSAE.wEnc`.
  ///
  /// - Parameters:
  ///   - cleanMLPInput: the clean MLP input (ln_2 output) [..., C] of the unpatched forward.
  ///   - cleanHidden: the clean c_fc output h [..., 4C], if the caller has it (computed otherwise).
  ///   - inIndices: the input SAE's top-k indices on the clean MLP input [..., k_in].
  ///   - outIndices: the output SAE's top-k indices on the clean MLP output [..., k_out].
  ///
  /// With gradient recording on and either matrix requiring a gradient, the gradients are computed in
  /// the same pass (backward only scales them by the upstream value).
  public static func ffLayer(inSAE: TopKSAE, outSAE: TopKSAE, mlp: MLP, cleanMLPInput: Tensor, cleanHidden: Tensor? = nil,
                             inIndices: IntTensor, outIndices: IntTensor) -> Variable {
    let problem = ffLayerProblem(inSAE: inSAE.form, outSAE: outSAE.form, mlp: mlp, cleanMLPInput: cleanMLPInput,
                                 cleanHidden: cleanHidden, inIndices: inIndices, outIndices: outIndices)
    return problem.term(wDec: inSAE.wDec, wEnc: outSAE.wEnc)
  }

  /// J_total of an FF-block pair as a scalar autograd node whose inputs are `inSAE.wDec` (the residmid
  /// SAE) and `outSAE.wEnc` (the residpost SAE).
  ///
  /// - Parameters:
  ///   - cleanResidMid: the clean resid_mid (ln_2 input) [..., C] of the unpatched forward.
  ///   - inIndices: the residmid SAE's top-k indices on the clean resid_mid [..., k_in].
  ///   - outIndices: the residpost SAE's top-k indices on the clean block output [..., k_out].
  public static func ffBlock(inSAE: TopKSAE, outSAE: TopKSAE, block: Block, cleanResidMid: Tensor,
                             inIndices: IntTensor, outIndices: IntTensor) -> Variable {
    let problem = ffBlockProblem(inSAE: inSAE.form, outSAE: outSAE.form, block: block, cleanResidMid: cleanResidMid,
                                 inIndices: inIndices, outIndices: outIndices)
    return problem.term(wDec: inSAE.wDec, wEnc: outSAE.wEnc)
  }

  /// The pair term of an FF-layer or FF-block pair of TopK SAEs, from the clean input activation of the
  /// pair's input key and both keys' top-k indices. Throws for other placements or SAEs.
  public static func pairTerm(_ pair: SAEPair, cleanInput: Tensor, inIndices: IntTensor, outIndices: IntTensor) throws -> Variable {
    guard let inSAE = pair.upstream.topKForm, let outSAE = pair.downstream.topKForm else {
      throw SAEError("Jacobian sparsity needs TopK SAEs at \(pair.upstreamKey) and \(pair.downstreamKey)")
    }
    switch pair.placement {
    case .ffLayer:
      return ffLayerProblem(inSAE: inSAE, outSAE: outSAE, mlp: pair.block.mlp, cleanMLPInput: cleanInput, cleanHidden: nil,
                            inIndices: inIndices, outIndices: outIndices).term(wDec: inSAE.wDec, wEnc: outSAE.wEnc)
    case .ffBlock:
      return ffBlockProblem(inSAE: inSAE, outSAE: outSAE, block: pair.block, cleanResidMid: cleanInput,
                            inIndices: inIndices, outIndices: outIndices).term(wDec: inSAE.wDec, wEnc: outSAE.wEnc)
    case .transformerBlock:
      throw SAEError("Jacobian sparsity needs an FF-layer or FF-block placement, got a transformer-block pair")
    }
  }

  /// The pair term of `model`'s pair at `layer` (`pairTerm(_:cleanInput:inIndices:outIndices:)`); the pair
  /// must exist and be one of TopK SAEs at an FF-layer or FF-block placement.
  public static func pairTerm(_ model: SparsifiedGPT, layer: Int, cleanInput: Tensor, inIndices: IntTensor,
                              outIndices: IntTensor) -> Variable {
    do {
      return try pairTerm(try SAEPair(model: model, layer: layer), cleanInput: cleanInput, inIndices: inIndices, outIndices: outIndices)
    } catch {
      preconditionFailure("Jacobian sparsity at layer \(layer): \(error)")
    }
  }

  /// Every token's FF-layer Jacobian J_t, [N, k_out, k_in] (N = tokens, leading axes flattened).
  public static func ffLayerJacobians(inSAE: TopKSAE, outSAE: TopKSAE, mlp: MLP, cleanMLPInput: Tensor, cleanHidden: Tensor? = nil,
                                      inIndices: IntTensor, outIndices: IntTensor) -> Tensor {
    ffLayerProblem(inSAE: inSAE.form, outSAE: outSAE.form, mlp: mlp, cleanMLPInput: cleanMLPInput, cleanHidden: cleanHidden,
                   inIndices: inIndices, outIndices: outIndices)
      .kernel.run(gradients: false, keepJacobians: true).jacobians!
  }

  /// Every token's FF-block Jacobian J_t, [N, k_out, k_in].
  public static func ffBlockJacobians(inSAE: TopKSAE, outSAE: TopKSAE, block: Block, cleanResidMid: Tensor,
                                      inIndices: IntTensor, outIndices: IntTensor) -> Tensor {
    ffBlockProblem(inSAE: inSAE.form, outSAE: outSAE.form, block: block, cleanResidMid: cleanResidMid,
                   inIndices: inIndices, outIndices: outIndices)
      .kernel.run(gradients: false, keepJacobians: true).jacobians!
  }

  // MARK: - Problem set-up

  /// A kernel plus the map from its accumulators to (∂/∂W_dec_in, ∂/∂W_enc_out).
  struct Problem {
    var kernel: JacobianKernel
    var weightGradients: (JacobianKernel.Result) -> (dec: Tensor, enc: Tensor)

    /// The scalar autograd node (gradients computed eagerly when they will be needed).
    func term(wDec: Variable, wEnc: Variable) -> Variable {
      let needed = GradMode.isEnabled && (wDec.requiresGrad || wEnc.requiresGrad)
      let result = kernel.run(gradients: needed, keepJacobians: false)
      let value = Tensor(scalar: Float(result.total))
      guard needed else { return Variable(value) }
      let (dDec, dEnc) = weightGradients(result)
      return Variable.record(value, operation: "jacobian_sparsity", inputs: [wDec, wEnc]) { upstream in
        let s = upstream.scalar
        return [s == 1 ? dDec : dDec * s, s == 1 ? dEnc : dEnc * s]
      }
    }
  }

  static func checkPair(_ inSAE: TopKForm, _ outSAE: TopKForm, _ x: Tensor, _ inIndices: IntTensor, _ outIndices: IntTensor) -> Int {
    let c = inSAE.embeddingSize
    precondition(inSAE.trainableFeatures == nil && outSAE.trainableFeatures == nil,
                 "Jacobian sparsity: detached staircase members are not supported")
    precondition(outSAE.embeddingSize == c && x.shape.last == c,
                 "Jacobian sparsity: activation \(x.shape) vs SAE widths \(c) and \(outSAE.embeddingSize)")
    let n = x.count / c
    precondition(inIndices.shape.last == inSAE.k && inIndices.count == n * inSAE.k,
                 "Jacobian sparsity: input indices \(inIndices.shape) for \(n) tokens with k \(inSAE.k)")
    precondition(outIndices.shape.last == outSAE.k && outIndices.count == n * outSAE.k,
                 "Jacobian sparsity: output indices \(outIndices.shape) for \(n) tokens with k \(outSAE.k)")
    return n
  }

  static func ffLayerProblem(inSAE: TopKForm, outSAE: TopKForm, mlp: MLP, cleanMLPInput: Tensor, cleanHidden: Tensor?,
                             inIndices: IntTensor, outIndices: IntTensor) -> Problem {
    let n = checkPair(inSAE, outSAE, cleanMLPInput, inIndices, outIndices)
    let c = inSAE.embeddingSize
    let wFc = mlp.cFc.weight.value, wProj = mlp.cProj.weight.value   // [H, C], [C, H]
    let h = wFc.shape[0]
    let x = cleanMLPInput.reshaped([n, c])
    let g: Tensor
    if let cleanHidden {
      precondition(cleanHidden.count == n * h, "Jacobian sparsity: hidden \(cleanHidden.shape) for \(n) tokens of width \(h)")
      g = cleanHidden.reshaped([n, h]).geluDerivative()
    } else {
      g = hiddenGeluDerivative(x, wFc, mlp.cFc.bias?.value)
    }
    let wDec = inSAE.wDec.value, wEnc = outSAE.wEnc.value
    let kernel = JacobianKernel(
      tokens: n, kIn: inSAE.k, kOut: outSAE.k, hidden: h, inIndices: inIndices.scalars, outIndices: outIndices.scalars,
      g: g, p: Tensor.matmul(wEnc, wProj, transposeA: true), wDec: wDec,
      input: .projected(q: Tensor.matmul(wDec, wFc, transposeB: true)), skip: false,
      scale: 1 / Float(inSAE.k * inSAE.k))
    return Problem(kernel: kernel) { r in
      (Tensor.matmul(r.dQ!, wFc), Tensor.matmul(wProj, r.dP!, transposeB: true))
    }
  }

  static func ffBlockProblem(inSAE: TopKForm, outSAE: TopKForm, block: Block, cleanResidMid: Tensor,
                             inIndices: IntTensor, outIndices: IntTensor) -> Problem {
    let n = checkPair(inSAE, outSAE, cleanResidMid, inIndices, outIndices)
    let c = inSAE.embeddingSize
    let mlp = block.mlp
    let wFc = mlp.cFc.weight.value, wProj = mlp.cProj.weight.value   // [H, C], [C, H]
    let bFc = mlp.cFc.bias?.value
    let h = wFc.shape[0]
    let x = cleanResidMid.reshaped([n, c])
    let wDec = inSAE.wDec.value, wEnc = outSAE.wEnc.value
    let input: JacobianKernel.InputSide
    let hidden: Tensor
    let decoderGradient: (JacobianKernel.Result) -> Tensor
    switch block.ln2.form {
    case .layerNorm(let w, let lnBias, let eps):
      // W' = W_cfc·diag(w): h = x̂·W'ᵀ + (W_cfc·β + b_fc), Q = W_dec·W'ᵀ, r1 = W'·1, r2 = x̂·W'ᵀ.
      let (xHat, rstd) = NormalizationForm.standardized(x, eps: eps)
      let wPrime = wFc * w                                                      // [H, C]
      let r2 = Tensor.matmul(xHat, wPrime, transposeB: true)                    // [N, H]
      var offset = Tensor.matmul(wFc, lnBias.reshaped([c, 1])).reshaped([h])
      if let bFc { offset = offset + bFc }
      hidden = r2 + offset
      input = .layerNorm(q: Tensor.matmul(wDec, wPrime, transposeB: true), rowSums: wDec.sum(axis: 1),
                         xHat: xHat, rstd: rstd, r1: wPrime.sum(axis: 1), r2: r2)
      decoderGradient = { r in Tensor.matmul(r.dQ!, wPrime) + r.dDecDirect! }
    case .dynamicTanh(let alpha, let gamma, let beta):
      let normed = (x * alpha).unary(.tanh) * gamma + beta
      hidden = linear(normed, wFc, bFc)
      input = .diagonal(wFc: wFc, d: NormalizationForm.dynamicTanhDiagonal(x, alpha: alpha, gamma: gamma))
      decoderGradient = { r in r.dDecDirect! }
    case .identity:
      hidden = linear(x, wFc, bFc)
      input = .projected(q: Tensor.matmul(wDec, wFc, transposeB: true))
      decoderGradient = { r in Tensor.matmul(r.dQ!, wFc) + r.dDecDirect! }
    }
    // P = [W_encᵀ·W_cproj | W_encᵀ]: the skip path rides along as C extra columns.
    let p = Tensor.concatenate([Tensor.matmul(wEnc, wProj, transposeA: true), wEnc.transposed()], axis: 1)
    let kernel = JacobianKernel(
      tokens: n, kIn: inSAE.k, kOut: outSAE.k, hidden: h, inIndices: inIndices.scalars, outIndices: outIndices.scalars,
      g: hidden.geluDerivative(), p: p, wDec: wDec, input: input, skip: true, scale: 1 / Float(inSAE.k * inSAE.k))
    return Problem(kernel: kernel) { r in
      let dP = r.dP!
      return (decoderGradient(r),
              Tensor.matmul(wProj, dP.slice(axis: 1, 0..<h), transposeB: true) + dP.slice(axis: 1, h..<(h + c)).transposed())
    }
  }

  /// Rows per block of `hiddenGeluDerivative`: the GPT's inference forward's row group (2 × 128 positions), so that
  /// c_fc is the same product with the same bits, and a block's hidden rows (256 KB at H = 256) stay in cache.
  static let hiddenRowBlock = 256

  /// gelu′(x · W_fcᵀ + b_fc) [N, H] for x [N, C], W_fc [H, C], one block of rows at a time on each core: c_fc as
  /// the GPT's inference forward runs it (`LinearKernel.rows`), gelu′ taken in place while the block is in cache
  /// (the values of `linear(x, W_fc, b_fc).geluDerivative()`, without the whole-batch hidden layer in memory).
  static func hiddenGeluDerivative(_ x: Tensor, _ wFc: Tensor, _ bFc: Tensor?) -> Tensor {
    let n = x.shape[0], c = x.shape[1], h = wFc.shape[0]
    precondition(wFc.shape == [h, c] && (bFc == nil || bFc!.shape == [h]), "Jacobian sparsity: c_fc \(wFc.shape) for inputs of width \(c)")
    var g = Tensor(uninitialized: [n, h])
    let pg = g.unsafeMutablePointer(), rows = hiddenRowBlock
    withExtendedLifetime((x, wFc, bFc)) {
      let px = x.unsafePointer, pw = wFc.unsafePointer, pb = bFc?.unsafePointer
      Parallel.forRanges((n + rows - 1) / rows, grain: 1) { blocks in
        for block in blocks {
          let lo = block * rows, m = Swift.min(rows, n - lo)
          let out = pg + lo * h                                             // [m, H]
          LinearKernel.rows(px + lo * c, rows: m, inFeatures: c, weight: pw, bias: pb, outFeatures: h, out)
          GELUKernel.derivative(out, out, m * h)
        }
      }
    }
    return g
  }

  /// x [N, in] · Wᵀ (+ b), W [out, in].
  static func linear(_ x: Tensor, _ w: Tensor, _ b: Tensor?) -> Tensor {
    let y = Tensor.matmul(x, w, transposeB: true)
    return b.map { y + $0 } ?? y
  }
}
