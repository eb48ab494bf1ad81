import Foundation

/// Softmax cross-entropy with integer targets, mean over rows: loss = −mean_r log softmax(logits_r)[target_r].
public enum CrossEntropyKernel {
  /// What the backward pass needs: row softmax probabilities [rows, V].
  public struct Cache {
    public var probabilities: Tensor
  }

  /// logits [..., V], targets with the leading shape → (mean loss, cache).
  public static func forward(_ logits: Tensor, targets: IntTensor) -> (Float, Cache) {
    let v = logits.shape.last!
    let rows = logits.count / v
    precondition(targets.count == rows, "cross-entropy: \(targets.count) targets for \(rows) rows of logits \(logits.shape)")
    var probs = Tensor(uninitialized: [rows, v])
    let pp = probs.unsafeMutablePointer()
    let chunks = Swift.min(Parallel.threadCount, Swift.max(1, rows / 64))
    var partial = [Double](repeating: 0, count: chunks)
    withExtendedLifetime(logits) {
      let pl = logits.unsafePointer
      targets.scalars.withUnsafeBufferPointer { tg in
        partial.withUnsafeMutableBufferPointer { part in
          Parallel.forRanges(chunks, grain: 1) { cr in
            for chunk in cr {
              var acc = 0.0
              for row in (rows * chunk / chunks)..<(rows * (chunk + 1) / chunks) {
                let x = pl + row * v, o = pp + row * v
                let target = Int(tg[row])
                precondition(target >= 0 && target < v, "cross-entropy target \(target) outside 0..<\(v)")
                let m = SoftmaxKernel.rowMax(x, v)
                let total = SoftmaxKernel.expShifted(x, o, v, shift: m)
                let inv = Float(1 / total)
                for j in 0..<v { o[j] *= inv }
                acc += Foundation.log(total) + Double(m) - Double(x[target])
              }
              part[chunk] = acc
            }
          }
        }
      }
    }
    return (Float(partial.reduce(0, +) / Double(rows)), Cache(probabilities: probs))
  }

  /// d logits = (softmax − onehot(target)) · upstream / rows, shaped like `logitsShape`.
  public static func backward(upstream: Float, targets: IntTensor, cache: Cache, logitsShape: [Int]) -> Tensor {
    var d = cache.probabilities
    let v = d.shape[1], rows = d.shape[0]
    let s = upstream / Float(rows)
    let pd = d.unsafeMutablePointer()
    targets.scalars.withUnsafeBufferPointer { tg in
      Parallel.forRanges(rows, grain: 256) { r in
        for row in r {
          let o = pd + row * v
          for j in 0..<v { o[j] *= s }
          o[Int(tg[row])] -= s
        }
      }
    }
    return d.reshaped(logitsShape)
  }

  /// Plain reference loss in Double.
  public static func referenceLoss(_ logits: Tensor, targets: IntTensor) -> Double {
    let v = logits.shape.last!, x = logits.scalars
    var acc = 0.0
    for row in 0..<(x.count / v) {
      let r = x[(row * v)..<((row + 1) * v)].map(Double.init)
      let m = r.max()!
      let lse = m + Foundation.log(r.map { Foundation.exp($0 - m) }.reduce(0, +))
      acc += lse - r[Int(targets.scalars[row])]
    }
    return acc / Double(x.count / v)
  }
}
