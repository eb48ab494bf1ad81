import Autograd
import Tensor

/// The activations inside one block that an inference pass hands back (the block output always).
public struct BlockInternals {
  /// x + attn(ln_1(x)) [B, T, C], when asked for.
  public var residMid: Tensor?
  /// ln_2(resid_mid) [B, T, C], when asked for.
  public var mlpIn: Tensor?
  /// mlp(ln_2(resid_mid)) [B, T, C], when asked for.
  public var mlpOut: Tensor?
  /// The block output [B, T, C].
  public var output: Tensor
}

extension Block {
  /// Sequences per work item of the inference pass: 2 × 128 positions keep every intermediate of a work item
  /// (≈ 0.6 MB at C = 64) in the core's cache.
  static let inferenceRowTarget = 256

  /// Whether `inference` computes this block: both normalisations are LayerNorms.
  public var supportsInference: Bool { ln1 is LayerNorm && ln2 is LayerNorm }

  /// The block on x [B, T, C] without autograd, a few sequences at a time per thread so that the
  /// intermediates stay in cache instead of passing through memory as whole-batch tensors: the same
  /// operations in the same order as the differentiable forward (layer norm rows, linear layers as a bias copy
  /// and an sgemm, the attention kernel's inference rows, tanh-GELU), so the results agree with it to the last
  /// bit up to the sgemm's blocking over fewer rows. Keeps the internals asked for.
  public func inference(_ x: Tensor, keepResidMid: Bool = false, keepMLPIn: Bool = false,
                        keepMLPOut: Bool = false) -> BlockInternals {
    guard let norm1 = ln1 as? LayerNorm, let norm2 = ln2 as? LayerNorm else {
      preconditionFailure("Block.inference needs LayerNorm normalisations (check supportsInference)")
    }
    precondition(x.rank == 3, "Block.inference expects [B, T, C], got \(x.shape)")
    let (b, t, c) = (x.shape[0], x.shape[1], x.shape[2])
    precondition(c == attn.cProj.outFeatures, "Block.inference: input width \(c) vs the block's \(attn.cProj.outFeatures)")
    let heads = attn.heads, hs = c / heads, hidden = mlp.cFc.outFeatures
    let qkvW = LinearWeights(attn.cAttn), projW = LinearWeights(attn.cProj)
    let fcW = LinearWeights(mlp.cFc), outW = LinearWeights(mlp.cProj)
    let ln1W = norm1.weight.value, ln1B = norm1.bias.value, ln2W = norm2.weight.value, ln2B = norm2.bias.value
    let eps1 = norm1.eps, eps2 = norm2.eps
    var output = Tensor(uninitialized: x.shape)
    var mid = keepResidMid ? Tensor(uninitialized: x.shape) : Tensor(zeros: [0])
    var mlpIn = keepMLPIn ? Tensor(uninitialized: x.shape) : Tensor(zeros: [0])
    var mlpOut = keepMLPOut ? Tensor(uninitialized: x.shape) : Tensor(zeros: [0])
    let po = output.unsafeMutablePointer(), pMid = mid.unsafeMutablePointer()
    let pIn = mlpIn.unsafeMutablePointer(), pOut = mlpOut.unsafeMutablePointer()
    let group = Swift.max(1, Swift.min(b, Self.inferenceRowTarget / Swift.max(1, t)))
    let items = (b + group - 1) / group
    let rowsMax = group * t
    let blk = Swift.max(1, Swift.min(AttentionKernel.rowBlock, t))
    let simd = VectorMath.vectorized && c % 8 == 0
    withExtendedLifetime((x, qkvW, projW, fcW, outW, ln1W, ln1B, ln2W, ln2B)) {
      let px = x.unsafePointer
      let w1 = ln1W.unsafePointer, b1 = ln1B.unsafePointer, w2 = ln2W.unsafePointer, b2 = ln2B.unsafePointer
      Parallel.forRanges(items, grain: 1) { range in
        // Per-thread work buffers: normalised rows, qkv, head outputs, a linear layer's output, resid_mid,
        // mlp_in, the hidden layer and the attention's probability rows.
        let a = UnsafeMutablePointer<Float>.allocate(capacity: rowsMax * c)
        let qkv = UnsafeMutablePointer<Float>.allocate(capacity: rowsMax * 3 * c)
        let o = UnsafeMutablePointer<Float>.allocate(capacity: rowsMax * c)
        let lin = UnsafeMutablePointer<Float>.allocate(capacity: rowsMax * c)
        let midScratch = UnsafeMutablePointer<Float>.allocate(capacity: rowsMax * c)
        let inScratch = UnsafeMutablePointer<Float>.allocate(capacity: rowsMax * c)
        let h = UnsafeMutablePointer<Float>.allocate(capacity: rowsMax * hidden)
        let probabilities = UnsafeMutablePointer<Float>.allocate(capacity: blk * t)
        defer {
          for p in [a, qkv, o, lin, midScratch, inScratch, h, probabilities] { p.deallocate() }
        }
        for item in range {
          let s0 = item * group, s1 = Swift.min(b, s0 + group)
          let r0 = s0 * t, rows = (s1 - s0) * t
          let xr = px + r0 * c, yr = po + r0 * c
          let m = keepResidMid ? pMid + r0 * c : midScratch
          let ni = keepMLPIn ? pIn + r0 * c : inScratch
          // resid_mid = x + c_proj(attention(c_attn(ln_1(x))))
          for r in 0..<rows {
            _ = LayerNormKernel.forwardRow(xr + r * c, a + r * c, weight: w1, bias: b1, c: c, eps: eps1, simd: simd)
          }
          qkvW.forward(a, rows: rows, qkv)
          for s in 0..<(s1 - s0) {
            let base = qkv + s * t * 3 * c
            for head in 0..<heads {
              AttentionKernel.headForward(q: base + head * hs, k: base + c + head * hs, v: base + 2 * c + head * hs,
                                          stride: 3 * c, length: t, headSize: hs, rowBlock: blk,
                                          out: o + s * t * c + head * hs, outStride: c, probabilities: nil,
                                          scratch: probabilities, exactSoftmax: false)
            }
          }
          projW.forward(o, rows: rows, lin)
          VectorMath.add(xr, lin, m, rows * c)
          // output = resid_mid + c_proj(gelu(c_fc(ln_2(resid_mid))))
          for r in 0..<rows {
            _ = LayerNormKernel.forwardRow(m + r * c, ni + r * c, weight: w2, bias: b2, c: c, eps: eps2, simd: simd)
          }
          fcW.forward(ni, rows: rows, h)
          GELUKernel.forward(h, h, rows * hidden)
          let mo = keepMLPOut ? pOut + r0 * c : lin
          outW.forward(h, rows: rows, mo)
          VectorMath.add(m, mo, yr, rows * c)
        }
      }
    }
    return BlockInternals(residMid: keepResidMid ? mid : nil, mlpIn: keepMLPIn ? mlpIn : nil,
                          mlpOut: keepMLPOut ? mlpOut : nil, output: output)
  }

  /// Whether a forward of x through this block with `hook` can take `inference`: nothing needs a gradient
  /// (gradients off, or neither x nor a parameter of the block requires one), LayerNorms, a [B, T, C] input,
  /// and a hook that edits none of the block's points.
  func canRunInference(_ x: Variable, hook: GPTHook?) -> Bool {
    guard supportsInference, x.value.rank == 3 else { return false }
    if GradMode.isEnabled && (x.requiresGrad || namedParameters.contains(where: { $0.1.requiresGrad })) { return false }
    guard let hook else { return true }
    return !Self.innerPoints.contains { hook.mayEdit($0, layer: layer) }
  }

  /// The hook points inside a block, in the order the forward reaches them.
  static let innerPoints: [HookPoint] = [.residmid, .mlpin, .mlpout, .residpost]
}
