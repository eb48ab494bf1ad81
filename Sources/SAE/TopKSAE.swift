import Autograd
import Tensor

/// A TopK sparse autoencoder (Gao et al. 2024): f = TopK_k(ReLU((x − b_dec)·W_enc + b_enc)), x̂ = f·W_dec + b_dec.
/// No sparsity loss. As a staircase member it slices the first F features of a `SharedDictionary`;
/// with `trainableFeatures` (the detach variant) only that slice of the shared matrices takes gradients.
public final class TopKSAE: SparseAutoencoder {
  public let key: SAEKey
  public let featureCount: Int
  public let k: Int
  /// W_enc [C, F] (own) or the shared [C, F_max].
  public let wEnc: Variable
  /// W_dec [F, C] (own) or the shared [F_max, C].
  public let wDec: Variable
  public let bEnc: Variable
  public let bDec: Variable
  /// The staircase group this SAE slices, if any.
  public let shared: SharedDictionary?
  /// Features whose shared weights this member trains (nil: all it uses).
  public let trainableFeatures: Range<Int>?
  public var sparsityCoefficient: Float = 0

  /// An independent TopK SAE: W_dec ~ Kaiming-uniform [F, C], W_enc = W_decᵀ, zero biases.
  public init(key: SAEKey, featureCount: Int, embeddingSize: Int, k: Int, generator: inout RandomGenerator) {
    self.key = key
    self.featureCount = featureCount
    self.k = k
    let dec = Tensor.kaimingUniform([featureCount, embeddingSize], generator: &generator)
    wDec = Variable(dec, requiresGrad: true)
    wEnc = Variable(dec.transposed(), requiresGrad: true)
    bEnc = Variable(Tensor(zeros: [featureCount]), requiresGrad: true)
    bDec = Variable(Tensor(zeros: [embeddingSize]), requiresGrad: true)
    shared = nil
    trainableFeatures = nil
  }

  /// A staircase member using the first `featureCount` features of `shared`.
  public init(key: SAEKey, featureCount: Int, k: Int, shared: SharedDictionary, trainableFeatures: Range<Int>? = nil) {
    precondition(featureCount <= shared.featureCount, "member size \(featureCount) exceeds the shared dictionary \(shared.featureCount)")
    self.key = key
    self.featureCount = featureCount
    self.k = k
    self.shared = shared
    self.trainableFeatures = trainableFeatures
    wEnc = shared.wEnc
    wDec = shared.wDec
    bEnc = Variable(Tensor(zeros: [featureCount]), requiresGrad: true)
    bDec = Variable(Tensor(zeros: [shared.wEnc.shape[0]]), requiresGrad: true)
  }

  public var embeddingSize: Int { bDec.shape[0] }
  public var topK: Int? { k }
  public var topKForm: TopKForm? { form }
  /// This SAE's TopK form.
  public var form: TopKForm {
    TopKForm(wEnc: wEnc, wDec: wDec, bEnc: bEnc, bDec: bDec, k: k, featureCount: featureCount, trainableFeatures: trainableFeatures)
  }

  /// Own parameters: all four for an independent SAE, the biases for a staircase member.
  public var namedParameters: [(String, Variable)] {
    shared == nil ? [("W_dec", wDec), ("W_enc", wEnc), ("b_dec", bDec), ("b_enc", bEnc)] : [("b_dec", bDec), ("b_enc", bEnc)]
  }

  /// W_enc[:, :F] as a differentiable slice (the detach variant stops gradients outside its slice).
  func encoderMatrix() -> Variable {
    guard shared != nil else { return wEnc }
    let sliced = featureCount == wEnc.shape[1] ? wEnc : wEnc.slice(axis: 1, 0..<featureCount)
    guard let live = trainableFeatures, live.lowerBound > 0 else { return sliced }
    return Variable.concatenate([sliced.slice(axis: 1, 0..<live.lowerBound).detached(),
                                 sliced.slice(axis: 1, live.lowerBound..<featureCount)], axis: 1)
  }

  /// W_dec[:F] as a differentiable slice.
  func decoderMatrix() -> Variable {
    guard shared != nil else { return wDec }
    let sliced = featureCount == wDec.shape[0] ? wDec : wDec.slice(axis: 0, 0..<featureCount)
    guard let live = trainableFeatures, live.lowerBound > 0 else { return sliced }
    return Variable.concatenate([sliced.slice(axis: 0, 0..<live.lowerBound).detached(),
                                 sliced.slice(axis: 0, live.lowerBound..<featureCount)], axis: 0)
  }

  public func ablationPreActivation(_ x: Variable) -> Variable {
    Variable.matmul(x - bDec, encoderMatrix()) + bEnc
  }

  public func encode(_ x: Variable) -> Variable {
    ablationPreActivation(x).relu().topKMask(k).0
  }

  public func decode(_ f: Variable) -> Variable {
    Variable.matmul(f, decoderMatrix()) + bDec
  }

  /// The fused sparse forward/backward (one autograd node from x and the parameters to x̂).
  public func callAsFunction(_ x: Variable) -> SAEOutput {
    let c = embeddingSize
    let input = x.value.reshaped([-1, c])
    let fw = TopKAutoencoderKernel.forward(x: input, wEnc: wEnc.value, bEnc: bEnc.value, wDec: wDec.value,
                                           bDec: bDec.value, featureCount: featureCount, k: k)
    let f = featureCount, live = trainableFeatures ?? 0..<featureCount
    let we = wEnc.value, wd = wDec.value
    let (px, pwe, pbe, pwd, pbd) = (x, wEnc, bEnc, wDec, bDec)
    let recon = Variable.record(fw.reconstruction.reshaped(x.shape), operation: "topk_sae", inputs: [x, wEnc, bEnc, wDec, bDec]) { g in
      let needs = TopKAutoencoderKernel.Needs(x: px.requiresGrad, wEnc: pwe.requiresGrad, bEnc: pbe.requiresGrad,
                                              wDec: pwd.requiresGrad, bDec: pbd.requiresGrad)
      let r = TopKAutoencoderKernel.backward(g.reshaped([-1, c]), forward: fw, wEnc: we, wDec: wd, featureCount: f,
                                             trainable: live, needs: needs)
      return [r.x.map { $0.reshaped(px.shape) }, r.wEnc, r.bEnc, r.wDec, r.bDec]
    }
    // The kernel computed each token's squared error and input norms as it went (no further passes over x and x̂).
    let norms = SAELossComponents.inputNorms(rowL2: fw.rowL2, rowL1: fw.rowL1)
    let losses = SAELossComponents(reconstruct: SAELossComponents.reconstructionLoss(x.value, recon, rowSquaredErrors: fw.rowSquaredErrors),
                                   sparsity: SAELossComponents.zero, aux: SAELossComponents.zero,
                                   l0: fw.magnitudes.l0, xNorm: norms.l2, xL1: norms.l1)
    let m = fw.magnitudes
    // The kernel sees the flattened [N, C] input; the magnitudes keep the input's leading shape.
    let magnitudes = FeatureMagnitudes(rows: m.rows, featureCount: m.featureCount, offsets: m.offsets, indices: m.indices,
                                       values: m.values, leadingShape: Array(x.shape.dropLast()))
    var leading = Array(x.shape.dropLast())
    leading.append(k)
    return SAEOutput(reconstruction: recon, magnitudes: magnitudes,
                     topKIndices: IntTensor(shape: leading, scalars: fw.topKIndices), losses: losses)
  }
}
