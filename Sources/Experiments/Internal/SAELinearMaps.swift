import Autograd
import Foundation
import SAE
import Tensor

/// An SAE decoder as a matrix: x̂ = f·matrix + bias (every variant decodes linearly).
struct DecoderMatrix {
  /// [F, C]: row i is feature i's decoder direction.
  let matrix: Tensor
  /// [C].
  let bias: Tensor

  init(_ sae: any SparseAutoencoder) {
    let f = sae.featureCount, c = sae.embeddingSize
    if let t = sae.topKForm {
      matrix = t.decoderMatrix
      bias = t.bDec.value
      return
    }
    // Generic: decode the zero vector and the identity.
    let (m, b) = withNoGrad { () -> (Tensor, Tensor) in
      let b = sae.decode(Variable(Tensor(zeros: [1, f]))).value.reshaped([c])
      var eye = Tensor(zeros: [f, f])
      let p = eye.unsafeMutablePointer()
      for i in 0..<f { p[i * f + i] = 1 }
      let m = sae.decode(Variable(eye)).value - b
      return (m, b)
    }
    matrix = m
    bias = b
  }
}

/// The encoder pre-activation of a TopK SAE as an affine map, pre = (x − center)·matrix + bias, followed by
/// ReLU and TopK(k) in `encode`.
struct AffineTopKEncoder {
  /// [C].
  let center: Tensor
  /// [C, F].
  let matrix: Tensor
  /// [F, C] (matrixᵀ: row j is feature j's encoder direction).
  let transposed: Tensor
  /// [F].
  let bias: Tensor
  let k: Int

  /// Nil for SAEs without TopK.
  init?(_ sae: any SparseAutoencoder) {
    guard let k = sae.topK else { return nil }
    self.k = k
    let f = sae.featureCount, c = sae.embeddingSize
    if let t = sae.topKForm {
      center = t.bDec.value
      matrix = t.encoderMatrix
      bias = t.bEnc.value
    } else {
      // Generic: the pre-activation map is affine, read it from the zero vector and the identity.
      let (m, b) = withNoGrad { () -> (Tensor, Tensor) in
        let b = sae.ablationPreActivation(Variable(Tensor(zeros: [1, c]))).value.reshaped([f])
        var eye = Tensor(zeros: [c, c])
        let p = eye.unsafeMutablePointer()
        for i in 0..<c { p[i * c + i] = 1 }
        return (sae.ablationPreActivation(Variable(eye)).value - b, b)
      }
      center = Tensor(zeros: [c])
      matrix = m
      bias = b
    }
    transposed = matrix.transposed()
  }

  var featureCount: Int { bias.count }

  /// pre[r] = (x[r] − center)·matrix + bias for `rows` rows, on the calling thread; `centered` is scratch
  /// of rows·C values.
  func preActivation(_ x: UnsafePointer<Float>, rows: Int, centered: UnsafeMutablePointer<Float>,
                     _ pre: UnsafeMutablePointer<Float>) {
    let c = center.count, f = featureCount
    withExtendedLifetime(self) {
      let pc = center.unsafePointer, pb = bias.unsafePointer
      for r in 0..<rows {
        for j in 0..<c { centered[r * c + j] = x[r * c + j] - pc[j] }
        (pre + r * f).update(from: pb, count: f)
      }
      BLAS.sgemmSerial(transposeA: false, transposeB: false, m: rows, n: f, k: c, a: centered, lda: c,
                       b: matrix.unsafePointer, ldb: f, beta: 1, c: pre, ldc: f)
    }
  }
}
