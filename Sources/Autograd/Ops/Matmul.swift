import Tensor

extension Variable {
  /// Matrix product (2-D, N-D × 2-D, or batched with equal batch axes), optional transposes.
  public static func matmul(_ a: Variable, _ b: Variable, transposeA: Bool = false, transposeB: Bool = false) -> Variable {
    let va = a.value, vb = b.value
    let out = Tensor.matmul(va, vb, transposeA: transposeA, transposeB: transposeB)
    return record(out, operation: "matmul", inputs: [a, b]) { g in
      var ga: Tensor? = nil, gb: Tensor? = nil
      if a.requiresGrad {
        // C = op(A)·op(B):  dop(A) = G·op(B)ᵀ
        ga = transposeA ? Tensor.matmul(vb, g, transposeA: transposeB, transposeB: true)
                        : Tensor.matmul(g, vb, transposeB: !transposeB)
        if !transposeA && vb.rank == 2 && va.rank > 2 { ga = ga!.reshaped(va.shape) }
      }
      if b.requiresGrad {
        if vb.rank == 2 && va.rank > 2 {
          // rows of A flattened: dB = op(A rows)ᵀ·G
          let a2 = va.reshaped([-1, va.shape.last!]), g2 = g.reshaped([-1, g.shape.last!])
          gb = transposeB ? Tensor.matmul(g2, a2, transposeA: true) : Tensor.matmul(a2, g2, transposeA: true)
        } else {
          gb = transposeB ? Tensor.matmul(g, va, transposeA: true, transposeB: transposeA)
                          : Tensor.matmul(va, g, transposeA: !transposeA)
        }
      }
      return [ga, gb]
    }
  }

  /// Fused linear layer y = x·Wᵀ + b with PyTorch's weight layout W [out, in]; x [..., in] → y [..., out].
  public static func linear(_ x: Variable, weight: Variable, bias: Variable?) -> Variable {
    let vx = x.value, vw = weight.value
    let inF = vw.shape[1], outF = vw.shape[0]
    precondition(vx.shape.last == inF, "linear: input \(vx.shape) does not end in \(inF) (weight \(vw.shape))")
    let rows = vx.count / inF
    var outShape = vx.shape
    outShape[outShape.count - 1] = outF
    var y = Tensor(uninitialized: outShape)
    let py = y.unsafeMutablePointer()
    let vb = bias?.value
    if let vb {
      precondition(vb.shape == [outF], "linear: bias \(vb.shape) does not match \(outF) outputs")
      withExtendedLifetime(vb) {
        let pb = vb.unsafePointer
        Parallel.forRanges(rows, grain: 1024) { r in for i in r { (py + i * outF).update(from: pb, count: outF) } }
      }
    }
    withExtendedLifetime((vx, vw)) {
      BLAS.sgemm(transposeA: false, transposeB: true, m: rows, n: outF, k: inF, a: vx.unsafePointer, lda: inF,
                 b: vw.unsafePointer, ldb: inF, beta: vb == nil ? 0 : 1, c: py, ldc: outF)
    }
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    return record(y, operation: "linear", inputs: inputs) { g in
      if weight.requiresGrad && LinearKernel.blockedBackwardSuits(inFeatures: inF, outFeatures: outF) {
        // dx, dW and db in one pass over row blocks of g
        let r = LinearKernel.backward(g, x: vx, weight: vw, inputGradient: x.requiresGrad,
                                      biasGradient: bias?.requiresGrad ?? false)
        return bias == nil ? [r.dx, r.dWeight] : [r.dx, r.dWeight, r.dBias]
      }
      var gx: Tensor? = nil, gw: Tensor? = nil, gb: Tensor? = nil
      withExtendedLifetime((g, vx, vw)) {
        if x.requiresGrad {
          var t = Tensor(uninitialized: vx.shape)
          BLAS.sgemm(transposeA: false, transposeB: false, m: rows, n: inF, k: outF, a: g.unsafePointer, lda: outF,
                     b: vw.unsafePointer, ldb: inF, c: t.unsafeMutablePointer(), ldc: inF)
          gx = t
        }
        if weight.requiresGrad {
          var t = Tensor(uninitialized: vw.shape)
          BLAS.sgemm(transposeA: true, transposeB: false, m: outF, n: inF, k: rows, a: g.unsafePointer, lda: outF,
                     b: vx.unsafePointer, ldb: inF, c: t.unsafeMutablePointer(), ldc: inF)
          gw = t
        }
      }
      if let bias, bias.requiresGrad { gb = g.reshaped([rows, outF]).sum(axis: 0) }
      return bias == nil ? [gx, gw] : [gx, gw, gb]
    }
  }
}
