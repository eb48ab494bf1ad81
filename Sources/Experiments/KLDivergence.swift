import Foundation
import Tensor

/// The reference's KL divergence between next-token distributions given as logits.
public enum KLDivergence {
  /// KL(p ‖ q) per position = Σ_v p·log((p + ε)/(q + ε)) with p = softmax(reference), q = softmax(other);
  /// logits [..., V] → [...].
  public static func perPosition(reference: Tensor, other: Tensor, epsilon: Float = 1e-8) -> Tensor {
    precondition(reference.shape == other.shape, "KL: logits \(reference.shape) and \(other.shape) differ")
    let v = reference.shape.last!, rows = reference.count / v
    var out = Tensor(uninitialized: Array(reference.shape.dropLast()))
    let po = out.unsafeMutablePointer()
    withExtendedLifetime((reference, other)) {
      let pr = reference.unsafePointer, pq = other.unsafePointer
      Parallel.forRanges(rows, grain: 64) { range in
        let p = UnsafeMutablePointer<Float>.allocate(capacity: v), q = UnsafeMutablePointer<Float>.allocate(capacity: v)
        defer { p.deallocate(); q.deallocate() }
        for r in range {
          SoftmaxKernel.softmaxRow(pr + r * v, p, v)
          SoftmaxKernel.softmaxRow(pq + r * v, q, v)
          var s = 0.0
          for e in 0..<v { s += Double(p[e]) * Foundation.log(Double(p[e] + epsilon) / Double(q[e] + epsilon)) }
          po[r] = Float(s)
        }
      }
    }
    return out
  }
}
