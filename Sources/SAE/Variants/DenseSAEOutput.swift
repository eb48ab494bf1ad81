import Autograd
import Tensor

/// Assembles the `SAEOutput` of a dense (non-TopK) variant from its differentiable pieces.
enum DenseSAEOutput {
  /// x [..., C]; f [..., F] the magnitudes; x̂ [..., C]; `sparsity` / `aux` the variant's penalties (nil: 0).
  /// The reconstruction loss treats x as a constant target; L0 counts the nonzero magnitudes.
  static func make(x: Variable, magnitudes f: Variable, reconstruction: Variable,
                   sparsity: Variable?, aux: Variable?) -> SAEOutput {
    let c = x.shape.last!
    let magnitudes = FeatureMagnitudes.nonzeros(of: f.value)
    let norms = SAELossComponents.inputNorms(x.value.reshaped([-1, c]))
    let losses = SAELossComponents(reconstruct: SAELossComponents.reconstructionLoss(x.value, reconstruction),
                                   sparsity: sparsity ?? SAELossComponents.zero, aux: aux ?? SAELossComponents.zero,
                                   l0: magnitudes.l0, xNorm: norms.l2, xL1: norms.l1)
    return SAEOutput(reconstruction: reconstruction, magnitudes: magnitudes, topKIndices: nil, losses: losses)
  }

  /// λ · mean over tokens of Σ_j f_j·‖W_dec[j]‖₂, for f [..., F] and decoder norms [F].
  static func weightedL1(_ f: Variable, decoderNorms: Variable, coefficient: Float) -> Variable {
    (f * decoderNorms).sum(axis: -1).mean() * coefficient
  }
}
