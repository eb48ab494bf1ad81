import Autograd
import Foundation
import SAE
import Tensor

/// The downstream quantity edge ablation assembles, computed only for chosen features: for TopK SAEs the
/// encoder pre-activation (x − b_dec)·W_enc + b_enc (no ReLU), otherwise the full encoder.
struct GroupEncoder {
  let sae: any SparseAutoencoder
  let affine: AffineTopKEncoder?
  let c: Int

  init(_ sae: any SparseAutoencoder) {
    self.sae = sae
    affine = AffineTopKEncoder(sae)
    c = sae.embeddingSize
  }

  /// Encoder columns and biases of `features`, gathered once per group (TopK SAEs).
  struct Columns {
    let features: [Int32]
    /// [C, n].
    let matrix: [Float]
    let bias: [Float]
  }

  func columns(_ features: [Int32]) -> Columns {
    guard let a = affine else { return Columns(features: features, matrix: [], bias: []) }
    let n = features.count, f = a.featureCount
    var m = [Float](repeating: 0, count: c * n), b = [Float](repeating: 0, count: n)
    let pm = a.matrix.scalars, pb = a.bias.scalars
    for (q, j) in features.enumerated() {
      for e in 0..<c { m[e * n + q] = pm[e * f + Int(j)] }
      b[q] = pb[Int(j)]
    }
    return Columns(features: features, matrix: m, bias: b)
  }

  /// The assembled quantity of `cols.features` for `rows` rows y [rows, C] into out [rows, n];
  /// `centered` is scratch.
  func values(_ y: UnsafePointer<Float>, rows: Int, _ cols: Columns, centered: FloatBuffer,
              _ out: UnsafeMutablePointer<Float>) {
    let n = cols.features.count
    guard rows > 0, n > 0 else { return }
    if let a = affine {
      let cen = centered.reserve(rows * c)
      withExtendedLifetime(a) {
        let pc = a.center.unsafePointer
        for r in 0..<rows { for e in 0..<c { cen[r * c + e] = y[r * c + e] - pc[e] } }
      }
      cols.bias.withUnsafeBufferPointer { pb in
        for r in 0..<rows { (out + r * n).update(from: pb.baseAddress!, count: n) }
      }
      cols.matrix.withUnsafeBufferPointer { pm in
        BLAS.sgemmSerial(transposeA: false, transposeB: false, m: rows, n: n, k: c, a: cen, lda: c,
                         b: pm.baseAddress!, ldb: n, beta: 1, c: out, ldc: n)
      }
      return
    }
    let input = Tensor(shape: [rows, c], scalars: Array(UnsafeBufferPointer(start: y, count: rows * c)))
    let full = withNoGrad { sae.ablationPreActivation(Variable(input)).value }
    let f = full.shape[1]
    full.withUnsafeBufferPointer { pf in
      for r in 0..<rows { for (q, j) in cols.features.enumerated() { out[r * n + q] = pf[r * f + Int(j)] } }
    }
  }
}
