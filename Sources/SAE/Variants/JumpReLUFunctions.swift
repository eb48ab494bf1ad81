import Autograd
import Tensor

/// The JumpReLU activation and its step function as autograd operations with straight-through threshold
/// gradients (Rajamanoharan et al. 2024, "Jumping Ahead"), using the rectangle kernel
/// rect(u) = [−½ < u < ½] of width ε (the bandwidth).
///
/// Both take pre-activations pre [..., F] and thresholds θ [F]. Threshold gradients are summed over every
/// leading position. A bandwidth ε ≤ 0 gives no threshold gradient (the kernel's zero-width limit).
public enum JumpReLUFunctions {
  /// rect(u) = 1 for −½ < u < ½, else 0.
  @inlinable
  public static func rect(_ u: Float) -> Float { u > -0.5 && u < 0.5 ? 1 : 0 }

  /// f = pre·[pre > θ]. Backward: ∂f/∂pre = [pre > θ]; ∂f/∂θ = −(θ/ε)·rect((pre − θ)/ε).
  public static func jumpReLU(_ pre: Variable, threshold: Variable, bandwidth: Float) -> Variable {
    checkShapes(pre, threshold, "jumpReLU")
    return Variable.custom("jumprelu", inputs: [pre, threshold], forward: { v in
      apply(v[0], v[1], indicator: false)
    }, backward: { g, v, _ in
      let (gPre, gTheta) = gradients(g, pre: v[0], theta: v[1], bandwidth: bandwidth, scaleByTheta: true, passPre: true)
      return [gPre, gTheta]
    })
  }

  /// H = [pre > θ]. Backward: no gradient to pre; ∂H/∂θ = −(1/ε)·rect((pre − θ)/ε).
  public static func step(_ pre: Variable, threshold: Variable, bandwidth: Float) -> Variable {
    checkShapes(pre, threshold, "step")
    return Variable.custom("jumprelu_step", inputs: [pre, threshold], forward: { v in
      apply(v[0], v[1], indicator: true)
    }, backward: { g, v, _ in
      let (_, gTheta) = gradients(g, pre: v[0], theta: v[1], bandwidth: bandwidth, scaleByTheta: false, passPre: false)
      return [nil, gTheta]
    })
  }

  static func checkShapes(_ pre: Variable, _ threshold: Variable, _ op: String) {
    precondition(threshold.rank == 1 && pre.shape.last == threshold.shape[0],
                 "\(op): thresholds \(threshold.shape) do not match pre-activations \(pre.shape)")
  }

  /// out[r, j] = [pre[r, j] > θ[j]] · (indicator ? 1 : pre[r, j]); parallel over feature ranges.
  static func apply(_ pre: Tensor, _ theta: Tensor, indicator: Bool) -> Tensor {
    let f = theta.count, rows = f == 0 ? 0 : pre.count / f
    var out = Tensor(uninitialized: pre.shape)
    let po = out.unsafeMutablePointer()
    withExtendedLifetime((pre, theta)) {
      let px = pre.unsafePointer, pt = theta.unsafePointer
      Parallel.forRanges(f, grain: Swift.max(1, 32_768 / Swift.max(rows, 1))) { cols in
        for r in 0..<rows {
          let base = r * f
          for j in cols {
            let x = px[base + j]
            po[base + j] = x > pt[j] ? (indicator ? 1 : x) : 0
          }
        }
      }
    }
    return out
  }

  /// Gradients to pre (g·[pre > θ], when `passPre`) and to θ (Σ_rows g·(−s/ε)·rect((pre − θ)/ε) with
  /// s = θ when `scaleByTheta`, else 1).
  static func gradients(_ g: Tensor, pre: Tensor, theta: Tensor, bandwidth eps: Float,
                        scaleByTheta: Bool, passPre: Bool) -> (Tensor?, Tensor) {
    let f = theta.count, rows = f == 0 ? 0 : pre.count / f
    var gPre = passPre ? Tensor(uninitialized: pre.shape) : nil
    var gTheta = Tensor(zeros: [f])
    let pgt = gTheta.unsafeMutablePointer()
    let pgp = gPre?.unsafeMutablePointer()
    withExtendedLifetime((g, pre, theta)) {
      let pg = g.unsafePointer, px = pre.unsafePointer, pt = theta.unsafePointer
      // Each thread owns a range of features, so the θ sums need no reduction across threads.
      Parallel.forRanges(f, grain: Swift.max(1, 32_768 / Swift.max(rows, 1))) { cols in
        for r in 0..<rows {
          let base = r * f
          for j in cols {
            let x = px[base + j], t = pt[j], up = pg[base + j]
            if let pgp { pgp[base + j] = x > t ? up : 0 }
            if eps > 0 && rect((x - t) / eps) != 0 {
              pgt[j] -= (scaleByTheta ? t : 1) / eps * up
            }
          }
        }
      }
    }
    return (gPre, gTheta)
  }
}
