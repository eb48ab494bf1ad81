import Autograd
import Foundation
import GPT
import SAE
import Tensor

/// Zero ablation of the edges between one SAE pair on fixed prompts (spec section 9).
///
/// Everything that does not depend on N is computed once: the clean activations, the source magnitudes,
/// the unpruned circuit's magnitudes and logits. For a pruning, downstream features are grouped by their
/// set of kept parents; each group's input keeps only its parents (at every position) and runs through
/// the path. Inputs that coincide are computed once: for a transformer block, per prompt, groups whose
/// parents meet that prompt's active features in the same set share one input; for the position-wise
/// paths the same holds per position. The inputs left are stacked along the batch axis (several sequences,
/// or many positions, per forward pass) and spread over the cores.
public final class PairAblation {
  public let pair: CircuitPair
  /// Prompts [P, T].
  public let prompts: IntTensor
  /// The unpatched model's logits [P, T, V].
  public let cleanLogits: Tensor
  /// Downstream magnitudes of the unpruned circuit [P, T, F_down]: the encoding of
  /// `SAEPair.unprunedDownstreamInput` (the FF block keeps its skip clean at N = every edge).
  public let unprunedMagnitudes: Tensor
  /// Logits of the unpruned circuit [P, T, V].
  public let unprunedLogits: Tensor
  let weights: PathWeights
  let decoder: DecoderMatrix
  let encoder: GroupEncoder
  let sources: SparseMagnitudes
  let residMid: Tensor?
  let promptCount: Int, length: Int, targets: Int, c: Int
  /// Rows per forward pass of the position-wise strategy (bounds the workspace).
  var chunkRows = 4096
  /// Inputs stacked into one forward pass by the per-prompt strategy.
  var sequencesPerPass = 8
  /// Tests set this to run position-wise paths through the per-prompt strategy too.
  var forcePerPrompt = false

  /// Prepares the pair for prompts [P, T]; `cleanLogits` are the unpatched model's logits on them.
  public init(pair: CircuitPair, prompts: IntTensor, cleanLogits: Tensor) throws {
    guard prompts.rank == 2 else { throw ExperimentError("prompts must be [P, T], got \(prompts.shape)") }
    self.pair = pair
    self.prompts = prompts
    self.cleanLogits = cleanLogits
    promptCount = prompts.shape[0]
    length = prompts.shape[1]
    targets = pair.downstream.featureCount
    c = pair.gpt.config.nEmbd
    weights = try PathWeights(pair: pair)
    decoder = DecoderMatrix(pair.upstream)
    encoder = GroupEncoder(pair.downstream)
    let acts = try pair.gpt.activations(prompts, at: [pair.upstreamKey] + pair.cleanKeys)
    let f0 = withNoGrad { pair.upstream.encode(Variable(acts[pair.upstreamKey]!)).value }  // [P, T, F_up]
    sources = SparseMagnitudes(dense: f0)
    residMid = pair.placement == .ffLayer ? acts[SAEKey(layer: pair.layer, hookPoint: .residmid)]! : nil
    let unpruned: Tensor = withNoGrad {
      let input = pair.unprunedDownstreamInput(decoded: pair.upstream.decode(Variable(f0)), clean: acts)
      return pair.downstream.encode(input).value
    }
    unprunedMagnitudes = unpruned
    unprunedLogits = Self.logits(pair: pair, residMid: residMid, magnitudes: unpruned)
    guard cleanLogits.shape == unprunedLogits.shape else {
      throw ExperimentError("clean logits \(cleanLogits.shape) do not match the prompts' logits \(unprunedLogits.shape)")
    }
  }

  /// F_up·F_down.
  public var totalEdges: Int { pair.upstream.featureCount * targets }

  /// Logits [P, T, V] of the model continued from the downstream SAE's reconstruction of `magnitudes`
  /// (`SAEPair.logits(fromDownstream:residMid:)`).
  public func logits(magnitudes: Tensor) -> Tensor {
    Self.logits(pair: pair, residMid: residMid, magnitudes: magnitudes)
  }

  static func logits(pair: CircuitPair, residMid: Tensor?, magnitudes: Tensor) -> Tensor {
    withNoGrad {
      pair.logits(fromDownstream: pair.downstream.decode(Variable(magnitudes)), residMid: residMid.map { Variable($0) }).value
    }
  }

  /// Runs the sweep over `counts` (ascending, each ≤ F_up·F_down) with edges taken from the front of
  /// `order` (a ranking of all edges); `body` receives each point as it is done. Counts in `skipping` (points
  /// already done) are passed over without computing them; the others come out as in a full sweep.
  public func sweep(order: [Int32], counts: [Int], skipping: Set<Int> = [], body: (AblationPoint) throws -> Void) throws {
    guard order.count == totalEdges else {
      throw ExperimentError("the edge order has \(order.count) edges, the pair has \(totalEdges)")
    }
    if let bad = order.first(where: { $0 < 0 || Int($0) >= totalEdges }) {
      throw ExperimentError("the edge order holds edge \(bad), outside 0..<\(totalEdges)")
    }
    guard zip(counts, counts.dropFirst()).allSatisfy({ $0 < $1 }), let last = counts.last, last <= totalEdges,
          counts.first! >= 1 else {
      throw ExperimentError("edge counts must ascend within 1...\(totalEdges), got \(counts)")
    }
    var parents = ParentSets(upstream: pair.upstream.featureCount, downstream: targets)
    var next = 0
    for n in counts {
      let start = DispatchTime.now().uptimeNanoseconds
      while next < n {
        parents.add(edge: order[next])
        next += 1
      }
      if skipping.contains(n) { continue }
      let full = n == totalEdges
      let mags = full ? unprunedMagnitudes : prunedMagnitudes(parents)
      let logits = self.logits(magnitudes: mags)
      let point = AblationPoint(
        layer: pair.layer, edges: n, magnitudes: mags, logits: logits,
        klFullModel: KLDivergence.perPosition(reference: cleanLogits, other: logits),
        klCircuit: KLDivergence.perPosition(reference: unprunedLogits, other: logits),
        usedUnprunedMagnitudes: full,
        seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
      try body(point)
    }
  }

  /// Downstream magnitudes [P, T, F_down] of the circuit keeping the edges in `parents`: per group of
  /// downstream features with equal parent sets, the assembled quantity (`GroupEncoder`) of the path run on
  /// the upstream magnitudes restricted to the parents; 0 for features without kept edges; then TopK with
  /// the downstream k (keep ≥ the k-th largest, no ReLU).
  func prunedMagnitudes(_ parents: ParentSets) -> Tensor {
    var assembled = Tensor(zeros: [promptCount, length, targets])
    let groups = parents.groups()
    if !groups.isEmpty {
      let cols = groups.map { encoder.columns($0.features) }
      let out = assembled.unsafeMutablePointer()
      withExtendedLifetime(assembled) {
        if pair.placement != .transformerBlock && sources.maxActive <= 64 && !forcePerPrompt {
          prunedPerPosition(groups, cols, out)
        } else {
          prunedPerPrompt(groups, cols, out)
        }
      }
    }
    if let k = pair.downstream.topK { Self.keepTopK(&assembled, k: k) }
    return assembled
  }

  /// Zeroes the entries of each row below its k-th largest value (ties keep more than k; no ReLU).
  static func keepTopK(_ t: inout Tensor, k: Int) {
    let f = t.shape.last!, rows = t.count / f
    let p = t.unsafeMutablePointer()
    Parallel.forRanges(rows, grain: 64) { range in
      let vals = UnsafeMutablePointer<Float>.allocate(capacity: k), idx = UnsafeMutablePointer<Int32>.allocate(capacity: k)
      defer { vals.deallocate(); idx.deallocate() }
      for r in range {
        let row = p + r * f
        TopKKernel.selectRow(row, f, k, vals, idx)
        let threshold = vals[k - 1]
        for j in 0..<f where !(row[j] >= threshold) { row[j] = 0 }
      }
    }
  }

  // MARK: per prompt (any placement)

  /// One path input per (prompt, parents ∩ the prompt's active features); the all-empty input (b_dec at
  /// every position) is shared by all prompts.
  private func prunedPerPrompt(_ groups: [(parents: [UInt64], features: [Int32])], _ cols: [GroupEncoder.Columns],
                               _ out: UnsafeMutablePointer<Float>) {
    let words = groups[0].parents.count
    // Active features of each prompt.
    var promptBits = [[UInt64]](repeating: [UInt64](repeating: 0, count: words), count: promptCount)
    for p in 0..<promptCount {
      for e in sources.offsets[p * length]..<sources.offsets[(p + 1) * length] {
        let i = Int(sources.indices[e])
        promptBits[p][i / 64] |= UInt64(1) << UInt64(i % 64)
      }
    }
    var uniquePrompt: [Int] = [], uniqueKey: [[UInt64]] = [], uniqueGroups: [[Int]] = []
    var emptyUsers = [[Int]](repeating: [], count: groups.count)  // group → prompts
    for p in 0..<promptCount {
      var seen: [[UInt64]: Int] = [:]
      for (g, group) in groups.enumerated() {
        var key = [UInt64](repeating: 0, count: words)
        var any = false
        for w in 0..<words {
          key[w] = group.parents[w] & promptBits[p][w]
          if key[w] != 0 { any = true }
        }
        if !any { emptyUsers[g].append(p); continue }
        if let u = seen[key] {
          uniqueGroups[u].append(g)
        } else {
          seen[key] = uniquePrompt.count
          uniquePrompt.append(p)
          uniqueKey.append(key)
          uniqueGroups.append([g])
        }
      }
    }
    let t = length, f1 = targets
    let work = uniquePrompt.count + 1  // the last item is the shared empty input
    let chunks = Swift.min(Parallel.threadCount, work)
    let batch = sequencesPerPass
    Parallel.forRanges(chunks, grain: 1) { range in
      let ws = PathWorkspace(), centered = FloatBuffer(), vals = FloatBuffer()
      for chunk in range {
        let items = Array((work * chunk / chunks)..<(work * (chunk + 1) / chunks))
        var b0 = 0
        while b0 < items.count {
          // Several inputs stacked along the batch axis, one forward pass.
          let b1 = Swift.min(items.count, b0 + batch)
          let x = ws.x.reserve((b1 - b0) * t * c)
          for (q, u) in items[b0..<b1].enumerated() {
            let isEmpty = u == uniquePrompt.count
            decodePrompt(isEmpty ? 0 : uniquePrompt[u], key: isEmpty ? nil : uniqueKey[u], into: x + q * t * c)
          }
          weights.forward(ws, rows: (b1 - b0) * t, length: t)
          for (q, u) in items[b0..<b1].enumerated() {
            let isEmpty = u == uniquePrompt.count
            let y = UnsafePointer(ws.y.pointer + q * t * c)
            let users: [(g: Int, prompts: [Int])] = isEmpty
              ? emptyUsers.enumerated().filter { !$0.element.isEmpty }.map { ($0.offset, $0.element) }
              : uniqueGroups[u].map { ($0, [uniquePrompt[u]]) }
            for (g, prompts) in users {
              let n = cols[g].features.count
              let v = vals.reserve(t * n)
              encoder.values(y, rows: t, cols[g], centered: centered, v)
              for pr in prompts {
                for s in 0..<t {
                  let dst = out + (pr * t + s) * f1, src = v + s * n
                  for (e, j) in cols[g].features.enumerated() { dst[Int(j)] = src[e] }
                }
              }
            }
          }
          b0 = b1
        }
      }
    }
  }

  /// x[t] = b_dec + Σ_{i kept} f₀_i·W_dec[i] for the positions of prompt `p` (key nil: nothing kept).
  private func decodePrompt(_ p: Int, key: [UInt64]?, into x: UnsafeMutablePointer<Float>) {
    withExtendedLifetime(decoder) {
      let pw = decoder.matrix.unsafePointer, pb = decoder.bias.unsafePointer
      for s in 0..<length {
        let xr = x + s * c
        xr.update(from: pb, count: c)
        guard let key else { continue }
        let pos = p * length + s
        for e in sources.offsets[pos]..<sources.offsets[pos + 1] {
          let i = Int(sources.indices[e])
          guard key[i / 64] & (UInt64(1) << UInt64(i % 64)) != 0 else { continue }
          let v = sources.values[e], w = pw + i * c
          for q in 0..<c { xr[q] += v * w[q] }
        }
      }
    }
  }

  // MARK: per position (FF paths)

  /// For position-wise paths: one path input per (position, parents ∩ the position's active features),
  /// prompts spread over the cores; the empty input (b_dec) is shared by every position.
  private func prunedPerPosition(_ groups: [(parents: [UInt64], features: [Int32])], _ cols: [GroupEncoder.Columns],
                                 _ out: UnsafeMutablePointer<Float>) {
    let t = length, f1 = targets, gcount = groups.count
    // The shared empty input.
    let emptyWS = PathWorkspace()
    decoder.bias.withUnsafeBufferPointer { emptyWS.x.reserve(c).update(from: $0.baseAddress!, count: c) }
    weights.forward(emptyWS, rows: 1)
    let yEmpty = UnsafePointer(emptyWS.y.pointer)
    let chunks = Swift.min(Parallel.threadCount, promptCount)
    withExtendedLifetime(emptyWS) {
      Parallel.forRanges(chunks, grain: 1) { range in
        let ws = PathWorkspace(), centered = FloatBuffer(), vals = FloatBuffer(), gathered = FloatBuffer()
        let outputs = FloatBuffer()
        var uid = [Int32](repeating: -1, count: gcount * t)
        for chunk in range {
          for p in (promptCount * chunk / chunks)..<(promptCount * (chunk + 1) / chunks) {
            // Unique (position, kept-subset) inputs of this prompt.
            var count = 0
            var inputs: [(s: Int, mask: UInt64)] = []
            for s in 0..<t {
              let pos = p * t + s, lo = sources.offsets[pos], hi = sources.offsets[pos + 1]
              var seen: [UInt64: Int32] = [:]
              for g in 0..<gcount {
                var mask: UInt64 = 0
                let parents = groups[g].parents
                for e in lo..<hi {
                  let i = Int(sources.indices[e])
                  if parents[i / 64] & (UInt64(1) << UInt64(i % 64)) != 0 { mask |= UInt64(1) << UInt64(e - lo) }
                }
                if mask == 0 { uid[g * t + s] = -1; continue }
                if let u = seen[mask] {
                  uid[g * t + s] = u
                } else {
                  seen[mask] = Int32(count)
                  uid[g * t + s] = Int32(count)
                  inputs.append((s, mask))
                  count += 1
                }
              }
            }
            // Path outputs of the unique inputs, computed in chunks to bound the workspace.
            let y = outputs.reserve(Swift.max(count, 1) * c)
            var u0 = 0
            while u0 < count {
              let u1 = Swift.min(count, u0 + chunkRows)
              let x = ws.x.reserve((u1 - u0) * c)
              withExtendedLifetime(decoder) {
                let pw = decoder.matrix.unsafePointer, pb = decoder.bias.unsafePointer
                for u in u0..<u1 {
                  let input = inputs[u], xr = x + (u - u0) * c
                  xr.update(from: pb, count: c)
                  let lo = sources.offsets[p * t + input.s]
                  var m = input.mask
                  while m != 0 {
                    let q = m.trailingZeroBitCount
                    m &= m - 1
                    let i = Int(sources.indices[lo + q]), v = sources.values[lo + q], w = pw + i * c
                    for e in 0..<c { xr[e] += v * w[e] }
                  }
                }
              }
              weights.forward(ws, rows: u1 - u0)
              (y + u0 * c).update(from: ws.y.pointer, count: (u1 - u0) * c)
              u0 = u1
            }
            let rows = gathered.reserve(t * c)
            for g in 0..<gcount {
              let n = cols[g].features.count
              for s in 0..<t {
                let id = Int(uid[g * t + s])
                (rows + s * c).update(from: id < 0 ? yEmpty : UnsafePointer(y + id * c), count: c)
              }
              let v = vals.reserve(t * n)
              encoder.values(rows, rows: t, cols[g], centered: centered, v)
              for s in 0..<t {
                let dst = out + (p * t + s) * f1, src = v + s * n
                for (e, j) in cols[g].features.enumerated() { dst[Int(j)] = src[e] }
              }
            }
          }
        }
      }
    }
  }
}
