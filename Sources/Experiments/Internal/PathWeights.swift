import Foundation
import Autograd
import GPT
import SAE
import Tensor

/// Scratch buffers of one thread for `PathWeights.forward`: every intermediate a vector-Jacobian product
/// needs. Row-major, rows = positions.
final class PathWorkspace {
  /// Input rows (the decoded upstream activation) [rows, C].
  let x = FloatBuffer()
  /// ln_1 output and (mean, rstd) per row (transformer block).
  let l1 = FloatBuffer(), stats1 = FloatBuffer()
  /// Packed q, k, v [T, 3C], attention probabilities [H, T, T], head outputs [T, C] (transformer block).
  let qkv = FloatBuffer(), probs = FloatBuffer(), o = FloatBuffer()
  /// The residual entering ln_2 [rows, C] (transformer block: resid_mid; FF block: x itself).
  let m = FloatBuffer()
  /// ln_2 output and its (mean, rstd) per row.
  let l2 = FloatBuffer(), stats2 = FloatBuffer()
  /// c_fc output (GELU input) and GELU output [rows, 4C].
  let hid = FloatBuffer(), act = FloatBuffer()
  /// Path output, the downstream SAE's input [rows, C].
  let y = FloatBuffer()

  /// Sizes every buffer for `rows` rows of width `c` (and attention over sequences of `length` positions).
  func prepare(rows: Int, c: Int, heads: Int, length: Int?) {
    for b in [x, l1, o, m, l2, y] { b.reserve(rows * c) }
    stats1.reserve(2 * rows)
    stats2.reserve(2 * rows)
    hid.reserve(rows * 4 * c)
    act.reserve(rows * 4 * c)
    if let length {
      qkv.reserve(rows * 3 * c)
      probs.reserve(heads * rows * length)
    }
  }
}

/// The weights of the model piece between an SAE pair, read once, with a hand-written forward pass that
/// keeps its intermediates (for analytic vector-Jacobian products and batched pruned forwards).
struct PathWeights {
  let placement: SAEPlacement
  let c: Int
  let heads: Int
  let ln1: NormOp
  let ln2: NormOp
  /// c_attn [3C, C] and [3C]; attention c_proj [C, C] and [C] (zero-size for the FF placements).
  let attnW: Tensor, attnB: Tensor, attnProjW: Tensor, attnProjB: Tensor
  /// mlp c_fc [4C, C] and [4C]; mlp c_proj [C, 4C] and [C].
  let fcW: Tensor, fcB: Tensor, projW: Tensor, projB: Tensor

  init(pair: CircuitPair) throws {
    let block = pair.block
    placement = pair.placement
    c = pair.gpt.config.nEmbd
    heads = pair.gpt.config.nHead
    ln1 = try NormOp(block.ln1)
    ln2 = try NormOp(block.ln2)
    func bias(_ l: Linear) -> Tensor { l.bias?.value ?? Tensor(zeros: [l.outFeatures]) }
    attnW = block.attn.cAttn.weight.value
    attnB = bias(block.attn.cAttn)
    attnProjW = block.attn.cProj.weight.value
    attnProjB = bias(block.attn.cProj)
    fcW = block.mlp.cFc.weight.value
    fcB = bias(block.mlp.cFc)
    projW = block.mlp.cProj.weight.value
    projB = bias(block.mlp.cProj)
  }

  var headSize: Int { c / heads }

  /// Runs the path on the first `rows` rows of `ws.x` into `ws.y`, filling the intermediates. For a
  /// transformer block the rows are consecutive sequences of `length` positions (default: one sequence of
  /// `rows`), attention probabilities [sequence, head, T, T]; otherwise independent positions.
  func forward(_ ws: PathWorkspace, rows: Int, length: Int? = nil) {
    guard rows > 0 else { return }
    let attention = placement == .transformerBlock
    let t = length ?? rows
    precondition(!attention || rows % t == 0, "\(rows) rows are not whole sequences of \(t)")
    ws.prepare(rows: rows, c: c, heads: heads, length: attention ? t : nil)
    withExtendedLifetime(self) {
      let x = UnsafePointer(ws.x.pointer)
      var mlpInput: UnsafePointer<Float> = x
      switch placement {
      case .transformerBlock:
        attentionForward(ws, rows: rows, t: t)
        ln2.forward(UnsafePointer(ws.m.pointer), ws.l2.pointer, rows: rows, c: c, stats: ws.stats2.pointer)
        mlpInput = UnsafePointer(ws.l2.pointer)
        ws.y.pointer.update(from: ws.m.pointer, count: rows * c)
      case .ffBlock:
        ws.m.pointer.update(from: x, count: rows * c)
        ln2.forward(x, ws.l2.pointer, rows: rows, c: c, stats: ws.stats2.pointer)
        mlpInput = UnsafePointer(ws.l2.pointer)
        ws.y.pointer.update(from: x, count: rows * c)
      case .ffLayer:
        break
      }
      linearRows(mlpInput, rows: rows, inFeatures: c, weight: fcW.unsafePointer, bias: fcB.unsafePointer,
                 outFeatures: 4 * c, ws.hid.pointer)
      GELUKernel.forward(ws.hid.pointer, ws.act.pointer, rows * 4 * c)
      linearRows(ws.act.pointer, rows: rows, inFeatures: 4 * c, weight: projW.unsafePointer, bias: projB.unsafePointer,
                 outFeatures: c, ws.y.pointer, accumulate: placement != .ffLayer)
    }
  }

  /// Query rows per block of the causal attention (keys beyond a block's last row are never computed).
  static let rowBlock = 32

  /// ln_1, causal self-attention and c_proj of `rows / t` sequences of `t` positions:
  /// ws.m = x + attn(ln_1(x)).
  private func attentionForward(_ ws: PathWorkspace, rows: Int, t: Int) {
    let hs = headSize, scale = 1 / Float(hs).squareRoot()
    let x = ws.x.pointer
    ln1.forward(x, ws.l1.pointer, rows: rows, c: c, stats: ws.stats1.pointer)
    linearRows(ws.l1.pointer, rows: rows, inFeatures: c, weight: attnW.unsafePointer, bias: attnB.unsafePointer,
               outFeatures: 3 * c, ws.qkv.pointer)
    let blk = Swift.min(Self.rowBlock, t)
    for sq in 0..<(rows / t) {
      let qkv = ws.qkv.pointer + sq * t * 3 * c, o = ws.o.pointer + sq * t * c
      for h in 0..<heads {
        let p = ws.probs.pointer + (sq * heads + h) * t * t
        var r0 = 0
        while r0 < t {
          let r1 = Swift.min(t, r0 + blk)
          // S[r0..<r1, 0..<r1] = scale · Q_h K_hᵀ, a causal softmax per row, zeros beyond the diagonal.
          BLAS.sgemmSerial(transposeA: false, transposeB: true, m: r1 - r0, n: r1, k: hs, alpha: scale,
                           a: qkv + r0 * 3 * c + h * hs, lda: 3 * c, b: qkv + c + h * hs, ldb: 3 * c,
                           c: p + r0 * t, ldc: t)
          for row in r0..<r1 {
            let pr = p + row * t
            SoftmaxKernel.softmaxRow(pr, pr, row + 1)
            if row + 1 < t { (pr + row + 1).update(repeating: 0, count: t - row - 1) }
          }
          // o_h[r0..<r1] = P_h[r0..<r1, 0..<r1] · V_h[0..<r1]
          BLAS.sgemmSerial(transposeA: false, transposeB: false, m: r1 - r0, n: hs, k: r1,
                           a: p + r0 * t, lda: t, b: qkv + 2 * c + h * hs, ldb: 3 * c, c: o + r0 * c + h * hs, ldc: c)
          r0 = r1
        }
      }
    }
    ws.m.pointer.update(from: x, count: rows * c)
    linearRows(ws.o.pointer, rows: rows, inFeatures: c, weight: attnProjW.unsafePointer, bias: attnProjB.unsafePointer,
               outFeatures: c, ws.m.pointer, accumulate: true)
  }
}
