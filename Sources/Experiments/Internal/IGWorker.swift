import Foundation
import SAE
import Tensor

/// What the IG computation of one pair needs, read once from the model.
final class IGPairState {
  let pair: CircuitPair
  let weights: PathWeights
  let decoder: DecoderMatrix
  let selection: DownstreamSelection
  let sums: SquaredAttributionSums

  init(pair: CircuitPair) throws {
    self.pair = pair
    weights = try PathWeights(pair: pair)
    decoder = DecoderMatrix(pair.upstream)
    selection = DownstreamSelection(pair.downstream)
    sums = SquaredAttributionSums(sources: pair.upstream.featureCount, targets: pair.downstream.featureCount,
                                  c: weights.c)
  }

  var targets: Int { pair.downstream.featureCount }
}

/// One thread's integrated-gradients work on whole sequences (rows).
///
/// For each α the path runs forward once on the row; the downstream TopK leaves k active targets per
/// position, and the gradient of Σ_positions f₁_j is the sum over the positions where j is active of
/// ∂f₁_j(t)/∂x. Every (position, active target) pair is one row of a stacked cotangent matrix, pushed
/// back through the path with matrix products: per position through the MLP (and ln_2, skip), and for a
/// transformer block through attention, where each pair's gradient reaches every earlier position. The
/// α-summed gradients in activation space (C values per position and target) are scaled by the step
/// length and accumulated as Gram matrices per target (`PartialGram`), which the decoder turns into squared
/// attributions after every batch (`SquaredAttributionSums`).
final class IGWorker {
  let ws = PathWorkspace()
  var pairs = ActivePairs()
  // Scratch.
  let pre = FloatBuffer(), centered = FloatBuffer()
  let u = FloatBuffer(), dg = FloatBuffer(), dl = FloatBuffer(), dm = FloatBuffer(), dout = FloatBuffer()
  let ls = FloatBuffer(), rs = FloatBuffer(), xi = FloatBuffer(), dl1 = FloatBuffer()
  let alphaK = FloatBuffer(), dq = FloatBuffer(), geluGrad = FloatBuffer()
  let sums = FloatBuffer(), gramRows = FloatBuffer()
  /// Per target of a transformer-block row: its α-summed gradients at every position, [T, C].
  let blockSums = SlotArrays()
  var sortedRows: [Int32] = [], sortedFeatures: [Int32] = []

  /// Adds the contributions of sequence `row` of `points` to `partial`.
  func run(_ s: IGPairState, points: SourcePoints, row: Int, alphas: [Float], partial: PartialGram) {
    if s.pair.placement == .transformerBlock {
      runBlock(s, points: points, row: row, alphas: alphas, partial: partial)
    } else {
      runFeedForward(s, points: points, row: row, alphas: alphas, partial: partial)
    }
  }

  // MARK: position-wise paths

  private func runFeedForward(_ s: IGPairState, points: SourcePoints, row: Int, alphas: [Float], partial: PartialGram) {
    let t = points.positions, c = s.weights.c
    // (position, target) → slot of the α-summed gradient.
    var slotsAt = [[(feature: Int32, slot: Int32)]](repeating: [], count: t)
    var slotRow: [Int32] = [], slotFeature: [Int32] = []
    for alpha in alphas {
      points.decode(row: row, alpha: alpha, decoder: s.decoder, into: ws.x.reserve(t * c))
      s.weights.forward(ws, rows: t)
      s.selection.activePairs(ws.y.pointer, rows: t, c: c, scratch: pre, centered: centered, into: &pairs)
      let np = pairs.count
      guard np > 0 else { continue }
      prepareGeluGrad(rows: t, c: c)
      let dx = mlpBackward(s, cotangents: pairs.cotangents.pointer, rows: pairs.rows, count: np)
      for p in 0..<np {
        let r = Int(pairs.rows[p]), j = pairs.features[p]
        var slot = -1
        for e in slotsAt[r] where e.feature == j { slot = Int(e.slot); break }
        if slot < 0 {
          slot = slotRow.count
          slotRow.append(Int32(r))
          slotFeature.append(j)
          slotsAt[r].append((j, Int32(slot)))
          sums.reserve((slot + 1) * c, keep: true)
          (sums.pointer + slot * c).update(repeating: 0, count: c)
        }
        let dst = sums.pointer + slot * c, src = dx + p * c
        for e in 0..<c { dst[e] += src[e] }
      }
    }
    let n = slotRow.count
    guard n > 0 else { return }
    // Group the slots by target, scale by the step length, accumulate the Gram matrices.
    let order = (0..<n).sorted { slotFeature[$0] != slotFeature[$1] ? slotFeature[$0] < slotFeature[$1] : $0 < $1 }
    let rowsBuf = gramRows.reserve(n * c)
    let scales = points.scales
    for (q, slot) in order.enumerated() {
      let sc = scales[row * t + Int(slotRow[slot])]
      let src = sums.pointer + slot * c, dst = rowsBuf + q * c
      for e in 0..<c { dst[e] = src[e] * sc }
    }
    var q0 = 0
    while q0 < n {
      let j = slotFeature[order[q0]]
      var q1 = q0
      while q1 < n && slotFeature[order[q1]] == j { q1 += 1 }
      partial.add(target: Int(j), rows: rowsBuf + q0 * c, count: q1 - q0)
      q0 = q1
    }
  }

  /// gelu′ of the forward pass's c_fc outputs, [rows, 4C], for `mlpBackward`.
  private func prepareGeluGrad(rows: Int, c: Int) {
    let n = rows * 4 * c
    GELUKernel.derivative(ws.hid.pointer, geluGrad.reserve(n), n)
  }

  /// Backward through the MLP (and ln_2 and the skip, except for the FF layer) for stacked cotangents of
  /// the path output at rows `rows`: returns the gradient with respect to the MLP's residual input (the
  /// path input for FF paths, resid_mid for a transformer block), [count, C] in `dm`.
  private func mlpBackward(_ s: IGPairState, cotangents uRows: UnsafePointer<Float>, rows: [Int32], count np: Int) -> UnsafeMutablePointer<Float> {
    let w = s.weights, c = w.c
    let d = dl.reserve(np * c)
    let out = dm.reserve(np * c)
    // dact = u · W_proj; dhid = dact ⊙ gelu′(hid); dmlpin = dhid · W_fc.
    w.mlp.backward(uRows, rows: rows, count: np, geluDerivative: UnsafePointer(geluGrad.pointer),
                   scratch: dg.reserve(np * 4 * c), d)
    if w.placement == .ffLayer {
      out.update(from: d, count: np * c)
    } else {
      for p in 0..<np {
        let r = Int(rows[p])
        (out + p * c).update(from: uRows + p * c, count: c)
        w.ln2.vjp(x: ws.m.pointer + r * c, stats: ws.stats2.pointer + 2 * r, dy: d + p * c, dx: out + p * c,
                  c: c, accumulate: true)
      }
    }
    return out
  }

  // MARK: transformer block

  private func runBlock(_ s: IGPairState, points: SourcePoints, row: Int, alphas: [Float], partial: PartialGram) {
    let w = s.weights
    let t = points.positions, c = w.c, heads = w.heads, hs = w.headSize, h2 = 2 * heads
    let scale = 1 / Float(hs).squareRoot()
    var slotOf: [Int32: Int] = [:]
    var slotFeature: [Int32] = [], slotLast: [Int] = []
    for alpha in alphas {
      points.decode(row: row, alpha: alpha, decoder: s.decoder, into: ws.x.reserve(t * c))
      w.forward(ws, rows: t)
      s.selection.activePairs(ws.y.pointer, rows: t, c: c, scratch: pre, centered: centered, into: &pairs)
      let np = pairs.count
      guard np > 0 else { continue }
      // Pairs ordered by target, then position.
      let order = (0..<np).sorted { pairs.features[$0] != pairs.features[$1] ? pairs.features[$0] < pairs.features[$1] : $0 < $1 }
      sortedRows.removeAll(keepingCapacity: true)
      sortedFeatures.removeAll(keepingCapacity: true)
      let uu = u.reserve(np * c)
      for (q, p) in order.enumerated() {
        sortedRows.append(pairs.rows[p])
        sortedFeatures.append(pairs.features[p])
        (uu + q * c).update(from: pairs.cotangents.pointer + p * c, count: c)
      }
      // Gradient at resid_mid of each pair (its own position only).
      prepareGeluGrad(rows: t, c: c)
      let dmid = mlpBackward(s, cotangents: uu, rows: sortedRows, count: np)
      let ak = alphaK.reserve(heads * t * c), dqp = dq.reserve(np * hs)
      let dO = dout.reserve(np * c)
      let lsp = ls.reserve(np * h2 * t), rsp = rs.reserve(np * h2 * c), xip = xi.zeroed(np * c)
      withExtendedLifetime(w.attention) {
        let wa = w.attention.qkv.weight.unsafePointer, qkv = ws.qkv.pointer, probs = ws.probs.pointer, o = ws.o.pointer
        for h in 0..<heads {
          // Α_h(t) = scale · q_h(t)·W_k,h, [T, C].
          BLAS.sgemmSerial(transposeA: false, transposeB: false, m: t, n: c, k: hs, alpha: scale,
                           a: qkv + h * hs, lda: 3 * c, b: wa + (c + h * hs) * c, ldb: c, c: ak + h * t * c, ldc: c)
        }
        // d(head outputs) = dmid · W_attn_proj ([C, C]).
        BLAS.sgemmSerial(transposeA: false, transposeB: false, m: np, n: c, k: c, a: dmid, lda: c,
                         b: w.attention.proj.weight.unsafePointer, ldb: c, c: dO, ldc: c)
        for h in 0..<heads {
          // dP = dO_h · V_hᵀ into the pair's row h of LS.
          BLAS.sgemmSerial(transposeA: false, transposeB: true, m: np, n: t, k: hs, a: dO + h * hs, lda: c,
                           b: qkv + 2 * c + h * hs, ldb: 3 * c, c: lsp + h * t, ldc: h2 * t)
          for p in 0..<np {
            let tp = Int(sortedRows[p])
            let rowS = lsp + (p * h2 + h) * t, prow = probs + (h * t + tp) * t
            var dot: Float = 0
            let dop = dO + p * c + h * hs, op = o + tp * c + h * hs
            for e in 0..<hs { dot += dop[e] * op[e] }
            // dS = P ⊙ (dP − dO_h·o_h), causal.
            for s2 in 0...tp { rowS[s2] = prow[s2] * (rowS[s2] - dot) }
            if tp + 1 < t { (rowS + tp + 1).update(repeating: 0, count: t - tp - 1) }
            (lsp + (p * h2 + heads + h) * t).update(from: prow, count: t)
            (rsp + (p * h2 + h) * c).update(from: ak + (h * t + tp) * c, count: c)
          }
          // β_h = dO_h · W_v,h into the pair's row H + h of RS.
          BLAS.sgemmSerial(transposeA: false, transposeB: false, m: np, n: c, k: hs, a: dO + h * hs, lda: c,
                           b: wa + (2 * c + h * hs) * c, ldb: c, c: rsp + (heads + h) * c, ldc: h2 * c)
          // The query part at the pair's own position: dq_h = scale · dS_h · K_h, ξ += dq_h · W_q,h.
          BLAS.sgemmSerial(transposeA: false, transposeB: false, m: np, n: hs, k: t, alpha: scale, a: lsp + h * t,
                           lda: h2 * t, b: qkv + c + h * hs, ldb: 3 * c, c: dqp, ldc: hs)
          BLAS.sgemmSerial(transposeA: false, transposeB: false, m: np, n: c, k: hs, a: dqp, lda: hs,
                           b: wa + h * hs * c, ldb: c, beta: 1, c: xip, ldc: c)
        }
      }
      // Per target: dl1_j = LSᵀ·RS over its pairs, plus ξ; then ln_1 and the residual.
      var p0 = 0
      while p0 < np {
        let j = sortedFeatures[p0]
        var p1 = p0
        while p1 < np && sortedFeatures[p1] == j { p1 += 1 }
        let tmax = Int(sortedRows[p1 - 1])
        let n = tmax + 1
        let d1 = dl1.reserve(n * c)
        BLAS.sgemmSerial(transposeA: true, transposeB: false, m: n, n: c, k: (p1 - p0) * h2,
                         a: lsp + p0 * h2 * t, lda: t, b: rsp + p0 * h2 * c, ldb: c, c: d1, ldc: c)
        for p in p0..<p1 {
          let dst = d1 + Int(sortedRows[p]) * c, src = xip + p * c
          for e in 0..<c { dst[e] += src[e] }
        }
        let slot = slotOf[j] ?? slotFeature.count
        let dst = blockSums.slot(slot, size: t * c)
        if slot == slotFeature.count {
          slotOf[j] = slot
          slotFeature.append(j)
          slotLast.append(-1)
          dst.update(repeating: 0, count: t * c)
        }
        for s2 in 0..<n {
          w.ln1.vjp(x: ws.x.pointer + s2 * c, stats: ws.stats1.pointer + 2 * s2, dy: d1 + s2 * c, dx: dst + s2 * c,
                    c: c, accumulate: true)
        }
        for p in p0..<p1 {
          let r = dst + Int(sortedRows[p]) * c, src = dmid + p * c
          for e in 0..<c { r[e] += src[e] }
        }
        slotLast[slot] = Swift.max(slotLast[slot], tmax)
        p0 = p1
      }
    }
    // Gram matrices of the step-scaled, α-summed gradients.
    let scales = points.scales
    for (slot, j) in slotFeature.enumerated() {
      let n = slotLast[slot] + 1
      let rowsBuf = gramRows.reserve(n * c), src = blockSums.slot(slot, size: t * c)
      for s2 in 0..<n {
        let sc = scales[row * t + s2]
        for e in 0..<c { rowsBuf[s2 * c + e] = src[s2 * c + e] * sc }
      }
      partial.add(target: Int(j), rows: rowsBuf, count: n)
    }
  }
}
