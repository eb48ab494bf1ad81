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

/// The model piece between an SAE pair (`SAEPair.path`) on raw pointers: the block's kernels read once
/// (`NormalizationForm`, `AttentionBlockKernel`, `MLPKernel` from the GPT module), composed per placement
/// with the pair's FF-block convention for pruned inputs (skip = the decoded input). The forward keeps its
/// intermediates for analytic vector-Jacobian products and batched pruned forwards; `PathWeightsTests`
/// keep it equal to `SAEPair.path`.
struct PathWeights {
  let placement: SAEPlacement
  let c: Int
  let heads: Int
  let ln1: NormalizationForm
  let ln2: NormalizationForm
  let attention: AttentionBlockKernel
  let mlp: MLPKernel

  init(pair: CircuitPair) throws {
    let block = pair.block
    placement = pair.placement
    c = pair.gpt.config.nEmbd
    heads = pair.gpt.config.nHead
    ln1 = block.ln1.form
    ln2 = block.ln2.form
    attention = block.attn.kernel
    mlp = block.mlp.kernel
  }

  var headSize: Int { c / heads }

  /// Runs the path on the first `rows` rows of `ws.x` into `ws.y`, filling the intermediates. For a
  /// transformer block the rows are consecutive sequences of `length` positions (default: one sequence of
  /// `rows`), attention probabilities [sequence, head, T, T]; otherwise independent positions.
  func forward(_ ws: PathWorkspace, rows: Int, length: Int? = nil) {
    guard rows > 0 else { return }
    let isBlock = placement == .transformerBlock
    let t = length ?? rows
    precondition(!isBlock || rows % t == 0, "\(rows) rows are not whole sequences of \(t)")
    ws.prepare(rows: rows, c: c, heads: heads, length: isBlock ? t : nil)
    let x = UnsafePointer(ws.x.pointer)
    var mlpInput: UnsafePointer<Float> = x
    switch placement {
    case .transformerBlock:
      // resid_mid = x + attn(ln_1(x)); y = resid_mid + mlp(ln_2(resid_mid)).
      ln1.forward(x, ws.l1.pointer, rows: rows, c: c, stats: ws.stats1.pointer)
      ws.m.pointer.update(from: x, count: rows * c)
      attention.forward(ws.l1.pointer, rows: rows, length: t, qkv: ws.qkv.pointer, probabilities: ws.probs.pointer,
                        heads: ws.o.pointer, ws.m.pointer, accumulate: true)
      ln2.forward(UnsafePointer(ws.m.pointer), ws.l2.pointer, rows: rows, c: c, stats: ws.stats2.pointer)
      mlpInput = UnsafePointer(ws.l2.pointer)
      ws.y.pointer.update(from: ws.m.pointer, count: rows * c)
    case .ffBlock:
      // y = x + mlp(ln_2(x)): the skip is the (pruned, decoded) input.
      ws.m.pointer.update(from: x, count: rows * c)
      ln2.forward(x, ws.l2.pointer, rows: rows, c: c, stats: ws.stats2.pointer)
      mlpInput = UnsafePointer(ws.l2.pointer)
      ws.y.pointer.update(from: x, count: rows * c)
    case .ffLayer:
      break
    }
    mlp.forward(mlpInput, rows: rows, hidden: ws.hid.pointer, activated: ws.act.pointer, ws.y.pointer,
                accumulate: placement != .ffLayer)
  }
}
