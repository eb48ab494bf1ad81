import Foundation
import Tensor

/// The integration endpoints of one batch, sparse per position: the entries i where the magnitude f₀ or
/// the baseline b is nonzero (z = α·f₀ + (1 − α)·b is zero elsewhere), and the IG step length
/// ‖f₀ − b‖₂ / steps per position.
struct SourcePoints {
  let rows: Int
  let positions: Int
  /// Position p's entries are offsets[p] ..< offsets[p + 1]; p = row·T + t.
  var offsets: [Int] = [0]
  var indices: [Int32] = []
  var magnitudes: [Float] = []
  var baselines: [Float] = []
  /// Step length per position.
  var scales: [Float] = []

  /// From dense magnitudes and baselines [B, T, F].
  init(magnitudes f0: Tensor, baseline: Tensor, steps: Int) {
    precondition(f0.rank == 3 && f0.shape == baseline.shape, "magnitudes \(f0.shape) and baseline \(baseline.shape) differ")
    rows = f0.shape[0]
    positions = f0.shape[1]
    let f = f0.shape[2]
    offsets.reserveCapacity(rows * positions + 1)
    scales.reserveCapacity(rows * positions)
    f0.withUnsafeBufferPointer { pf in
      baseline.withUnsafeBufferPointer { pb in
        for p in 0..<(rows * positions) {
          var sq: Float = 0
          for i in 0..<f {
            let a = pf[p * f + i], b = pb[p * f + i]
            if a != 0 || b != 0 {
              indices.append(Int32(i))
              magnitudes.append(a)
              baselines.append(b)
              sq += (a - b) * (a - b)
            }
          }
          offsets.append(indices.count)
          scales.append(sq.squareRoot() / Float(steps))
        }
      }
    }
  }

  /// x[t] = bias + Σ_i (α·f₀ + (1 − α)·b)_i · decoder[i] for the T positions of `row`, into `x` [T, C].
  func decode(row: Int, alpha: Float, decoder: DecoderMatrix, into x: UnsafeMutablePointer<Float>) {
    let c = decoder.bias.count
    withExtendedLifetime(decoder) {
      let pw = decoder.matrix.unsafePointer, pb = decoder.bias.unsafePointer
      for t in 0..<positions {
        let xr = x + t * c
        xr.update(from: pb, count: c)
        let p = row * positions + t
        for e in offsets[p]..<offsets[p + 1] {
          let v = alpha * magnitudes[e] + (1 - alpha) * baselines[e]
          if v == 0 { continue }
          let w = pw + Int(indices[e]) * c
          for j in 0..<c { xr[j] += v * w[j] }
        }
      }
    }
  }
}
