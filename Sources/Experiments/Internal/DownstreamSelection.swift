import Autograd
import Foundation
import SAE
import Tensor

/// The active downstream features of a batch of rows and, for each active (row, feature) pair, the
/// gradient of that feature's magnitude with respect to the row's SAE input: the cotangent the path's
/// backward pass starts from. Features with magnitude 0 have zero gradient in every SAE variant (ReLU,
/// TopK masks, JumpReLU and gated gates all pass gradients only where the output is nonzero).
struct ActivePairs {
  /// Row (position) of each pair, ascending.
  var rows: [Int32] = []
  /// Feature of each pair (ascending within a row).
  var features: [Int32] = []
  /// [pairs, C] gradient rows ∂f_j/∂y at the pair's row.
  let cotangents = FloatBuffer()

  var count: Int { rows.count }
}

/// How the downstream SAE selects features: TopK SAEs analytically (affine pre-activation, ReLU, TopK),
/// any other SAE through its differentiable `encode`.
enum DownstreamSelection {
  case topK(AffineTopKEncoder)
  case generic(any SparseAutoencoder)

  init(_ sae: any SparseAutoencoder) {
    if let enc = AffineTopKEncoder(sae) { self = .topK(enc) } else { self = .generic(sae) }
  }

  /// Fills `out` with the active pairs of `rows` rows y [rows, C]; `scratch` holds the pre-activations.
  func activePairs(_ y: UnsafePointer<Float>, rows: Int, c: Int, scratch: FloatBuffer, centered: FloatBuffer,
                   into out: inout ActivePairs) {
    out.rows.removeAll(keepingCapacity: true)
    out.features.removeAll(keepingCapacity: true)
    switch self {
    case .topK(let enc):
      let f = enc.featureCount, k = enc.k
      let pre = scratch.reserve(rows * f + 2 * k)
      enc.preActivation(y, rows: rows, centered: centered.reserve(rows * c), pre)
      let vals = pre + rows * f
      let idx = UnsafeMutablePointer<Int32>.allocate(capacity: k)
      defer { idx.deallocate() }
      for r in 0..<rows {
        let row = pre + r * f
        for j in 0..<f where row[j] < 0 { row[j] = 0 }
        TopKKernel.selectRow(row, f, k, vals, idx)
        // The TopK SAE keeps entries ≥ the k-th largest (ties keep more); zeros are inactive.
        let threshold = Swift.max(vals[k - 1], Float.leastNonzeroMagnitude)
        for j in 0..<f where row[j] >= threshold {
          out.rows.append(Int32(r))
          out.features.append(Int32(j))
        }
      }
      let n = out.rows.count
      let u = out.cotangents.reserve(n * c)
      withExtendedLifetime(enc) {
        let pt = enc.transposed.unsafePointer
        for p in 0..<n { (u + p * c).update(from: pt + Int(out.features[p]) * c, count: c) }
      }
    case .generic(let sae):
      let input = Tensor(shape: [rows, c], scalars: Array(UnsafeBufferPointer(start: y, count: rows * c)))
      let f = withNoGrad { sae.encode(Variable(input)).value }
      let fc = f.shape[1]
      f.withUnsafeBufferPointer { pf in
        for r in 0..<rows {
          for j in 0..<fc where pf[r * fc + j] != 0 {
            out.rows.append(Int32(r))
            out.features.append(Int32(j))
          }
        }
      }
      let n = out.rows.count
      let u = out.cotangents.reserve(n * c)
      guard n > 0 else { return }
      // One backward pass for all pairs: row p of the stacked input is y at the pair's row, and its
      // cotangent is one-hot at the pair's feature.
      var stacked = Tensor(uninitialized: [n, c])
      var seed = Tensor(zeros: [n, fc])
      let ps = stacked.unsafeMutablePointer(), pseed = seed.unsafeMutablePointer()
      for p in 0..<n {
        (ps + p * c).update(from: y + Int(out.rows[p]) * c, count: c)
        pseed[p * fc + Int(out.features[p])] = 1
      }
      let leaf = Variable(stacked, requiresGrad: true)
      withGrad { sae.encode(leaf).backward(gradient: seed) }
      let g = leaf.grad ?? Tensor(zeros: [n, c])
      g.withUnsafeBufferPointer { u.update(from: $0.baseAddress!, count: n * c) }
    }
  }
}
