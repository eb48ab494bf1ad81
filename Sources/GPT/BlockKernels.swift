import Autograd
import Tensor

/// The weights of one linear layer read once, with a zero bias where the layer has none.
public struct LinearWeights {
  /// [out, in].
  public let weight: Tensor
  /// [out].
  public let bias: Tensor

  public init(_ layer: Linear) {
    weight = layer.weight.value
    bias = layer.bias?.value ?? Tensor(zeros: [layer.outFeatures])
  }

  public var inFeatures: Int { weight.shape[1] }
  public var outFeatures: Int { weight.shape[0] }

  /// out[r] (+)= x[r]·Wᵀ + b for `rows` rows on the calling thread.
  @inline(__always)
  public func forward(_ x: UnsafePointer<Float>, rows: Int, _ out: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
    withExtendedLifetime(self) {
      LinearKernel.rows(x, rows: rows, inFeatures: inFeatures, weight: weight.unsafePointer, bias: bias.unsafePointer,
                        outFeatures: outFeatures, out, accumulate: accumulate)
    }
  }
}

extension MLP {
  /// The MLP at its current weights as a pointer-level kernel.
  public var kernel: MLPKernel { MLPKernel(fc: LinearWeights(cFc), proj: LinearWeights(cProj)) }
}

/// The feed-forward layer y = c_proj(gelu(c_fc(x))) on raw pointers: the forward that hand-written paths
/// run (keeping the hidden activations) and its vector-Jacobian product for stacked cotangents.
public struct MLPKernel {
  public let fc: LinearWeights
  public let proj: LinearWeights

  /// hidden = c_fc(x) [rows, H], activated = gelu(hidden) [rows, H], out (+)= c_proj(activated) [rows, C].
  public func forward(_ x: UnsafePointer<Float>, rows: Int, hidden: UnsafeMutablePointer<Float>,
                      activated: UnsafeMutablePointer<Float>, _ out: UnsafeMutablePointer<Float>, accumulate: Bool) {
    fc.forward(x, rows: rows, hidden)
    GELUKernel.forward(hidden, activated, rows * fc.outFeatures)
    proj.forward(activated, rows: rows, out, accumulate: accumulate)
  }

  /// dx[p] = ((u[p]·W_proj) ⊙ gelu′[rows[p]])·W_fc for `count` stacked cotangents u [count, C] of the output,
  /// each at row `rows[p]` of `geluDerivative` [rows, H]; `scratch` holds count·H values.
  public func backward(_ u: UnsafePointer<Float>, rows: [Int32], count np: Int, geluDerivative gd: UnsafePointer<Float>,
                       scratch g: UnsafeMutablePointer<Float>, _ dx: UnsafeMutablePointer<Float>) {
    let c = fc.inFeatures, h = fc.outFeatures
    withExtendedLifetime(self) {
      BLAS.sgemmSerial(transposeA: false, transposeB: false, m: np, n: h, k: c, a: u, lda: c,
                       b: proj.weight.unsafePointer, ldb: h, c: g, ldc: h)
      for p in 0..<np {
        let d = gd + Int(rows[p]) * h, gp = g + p * h
        for e in 0..<h { gp[e] *= d[e] }
      }
      BLAS.sgemmSerial(transposeA: false, transposeB: false, m: np, n: c, k: h, a: g, lda: h,
                       b: fc.weight.unsafePointer, ldb: c, c: dx, ldc: c)
    }
  }
}

extension CausalSelfAttention {
  /// The attention at its current weights as a pointer-level kernel.
  public var kernel: AttentionBlockKernel {
    AttentionBlockKernel(qkv: LinearWeights(cAttn), proj: LinearWeights(cProj), heads: heads)
  }
}

/// Causal self-attention y = c_proj(attention(c_attn(x))) on raw pointers for whole sequences, keeping q, k,
/// v, the probabilities and the head outputs (for vector-Jacobian products).
public struct AttentionBlockKernel {
  public let qkv: LinearWeights
  public let proj: LinearWeights
  public let heads: Int

  /// Query rows per block of the causal attention (keys beyond a block's last row are never computed).
  public static let rowBlock = 32

  /// For `rows / t` sequences of `t` positions x [rows, C]: qkv [rows, 3C], probabilities
  /// [sequence, head, T, T], head outputs o [rows, C], and out (+)= c_proj(o) [rows, C]. The softmax rows
  /// are the exact ones (`AttentionKernel.headForward` with `exactSoftmax`).
  public func forward(_ x: UnsafePointer<Float>, rows: Int, length t: Int, qkv q: UnsafeMutablePointer<Float>,
                      probabilities: UnsafeMutablePointer<Float>, heads o: UnsafeMutablePointer<Float>,
                      _ out: UnsafeMutablePointer<Float>, accumulate: Bool) {
    let c = proj.outFeatures, hs = c / heads
    qkv.forward(x, rows: rows, q)
    for sq in 0..<(rows / t) {
      let base = q + sq * t * 3 * c, os = o + sq * t * c
      for h in 0..<heads {
        AttentionKernel.headForward(q: base + h * hs, k: base + c + h * hs, v: base + 2 * c + h * hs, stride: 3 * c,
                                    length: t, headSize: hs, rowBlock: Self.rowBlock, out: os + h * hs, outStride: c,
                                    probabilities: probabilities + (sq * heads + h) * t * t, scratch: nil, exactSoftmax: true)
      }
    }
    proj.forward(o, rows: rows, out, accumulate: accumulate)
  }
}
