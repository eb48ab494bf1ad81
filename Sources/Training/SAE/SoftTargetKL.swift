import Autograd
import Foundation
import Tensor

/// The KL divergence KL(P ‖ softmax(logits)) from a fixed target distribution P, reduced as PyTorch's
/// `F.kl_div(log_softmax(logits).view(-1, V), P.view(-1, V), reduction="batchmean")`: the sum over every
/// row (position) and class of P·(log P − log softmax(logits)), divided by the number of rows. Entries
/// with P = 0 contribute 0.
public struct SoftTargetKL {
  /// P [rows, V].
  public let probabilities: Tensor
  /// log P [rows, V].
  let logProbabilities: Tensor
  /// Σ_j P_j per row [rows] (1 up to rounding).
  let rowSums: [Float]

  /// The target softmax(targetLogits) of logits [..., V].
  public init(targetLogits: Tensor) {
    let v = targetLogits.shape.last!
    let rows = targetLogits.count / v
    var p = Tensor(uninitialized: [rows, v]), logP = Tensor(uninitialized: [rows, v])
    var sums = [Float](repeating: 0, count: rows)
    let pp = p.unsafeMutablePointer(), pl = logP.unsafeMutablePointer()
    withExtendedLifetime(targetLogits) {
      let px = targetLogits.unsafePointer
      sums.withUnsafeMutableBufferPointer { s in
        Parallel.forRanges(rows, grain: 64) { r in
          for row in r {
            let x = px + row * v
            SoftmaxKernel.softmaxRow(x, pp + row * v, v)
            SoftmaxKernel.logSoftmaxRow(x, pl + row * v, v)
            var total: Float = 0
            for j in 0..<v { total += pp[row * v + j] }
            s[row] = total
          }
        }
      }
    }
    probabilities = p
    logProbabilities = logP
    rowSums = sums
  }

  /// Number of rows (positions).
  public var rows: Int { probabilities.shape[0] }
  /// Number of classes V.
  public var classes: Int { probabilities.shape[1] }

  /// KL(P ‖ softmax(logits)) / rows for logits [..., V] with as many rows as P; differentiable in logits
  /// (gradient (softmax(logits)·ΣP − P) / rows per row).
  public func loss(_ logits: Variable) -> Variable {
    let v = classes, n = rows
    let z = logits.value
    precondition(z.shape.last == v && z.count / v == n, "KL divergence: logits \(z.shape) do not match the target [\(n), \(v)]")
    var q = Tensor(uninitialized: [n, v])  // softmax(logits), kept for the backward pass
    let pq = q.unsafeMutablePointer()
    let chunks = Swift.min(Parallel.threadCount, Swift.max(1, n / 64))
    var partial = [Double](repeating: 0, count: chunks)
    withExtendedLifetime((z, probabilities, logProbabilities)) {
      let pz = z.unsafePointer, pp = probabilities.unsafePointer, pl = logProbabilities.unsafePointer
      partial.withUnsafeMutableBufferPointer { part in
        Parallel.forRanges(chunks, grain: 1) { cr in
          for chunk in cr {
            var acc = 0.0
            for row in (n * chunk / chunks)..<(n * (chunk + 1) / chunks) {
              let x = pz + row * v, o = pq + row * v, p = pp + row * v, lp = pl + row * v
              let m = SoftmaxKernel.rowMax(x, v)
              let total = SoftmaxKernel.expShifted(x, o, v, shift: m)
              let inv = Float(1 / total)
              let logTotal = Float(Foundation.log(total))
              var rowSum: Float = 0
              for j in 0..<v {
                o[j] *= inv
                // P·(log P − log q) with log q = (z − max) − log Σ; P = 0 contributes 0.
                if p[j] > 0 { rowSum += p[j] * (lp[j] - ((x[j] - m) - logTotal)) }
              }
              acc += Double(rowSum)
            }
            part[chunk] = acc
          }
        }
      }
    }
    let value = Float(partial.reduce(0, +) / Double(n))
    let (p, sums) = (probabilities, rowSums)
    return Variable.record(Tensor(scalar: value), operation: "kl_div_batchmean", inputs: [logits]) { g in
      var d = q
      let s = g.scalar / Float(n)
      let pd = d.unsafeMutablePointer()
      withExtendedLifetime(p) {
        let pp = p.unsafePointer
        sums.withUnsafeBufferPointer { rs in
          Parallel.forRanges(n, grain: 256) { r in
            for row in r {
              let o = pd + row * v, t = pp + row * v
              let total = rs[row]
              for j in 0..<v { o[j] = (o[j] * total - t[j]) * s }
            }
          }
        }
      }
      return [d.reshaped(z.shape)]
    }
  }
}
