import Tensor

extension FeatureMagnitudes {
  /// The nonzero entries of dense magnitudes f [..., F], as dense SAE variants produce them.
  ///
  /// Two passes over row ranges in parallel: count each row's nonzeros, then (after a prefix sum gives the
  /// row offsets) write indices and values straight into their final places — no per-element appends.
  static func nonzeros(of f: Tensor) -> FeatureMagnitudes {
    let width = f.shape.last ?? 0
    let rows = width == 0 ? 0 : f.count / width
    var offsets = [Int](repeating: 0, count: rows + 1)
    let grain = Swift.max(1, 65_536 / Swift.max(width, 1))
    withExtendedLifetime(f) {
      let p = f.unsafePointer
      offsets.withUnsafeMutableBufferPointer { o in
        let po = o.baseAddress!
        Parallel.forRanges(rows, grain: grain) { range in
          for r in range {
            var n = 0
            let row = p + r * width
            for j in 0..<width where row[j] != 0 { n += 1 }
            po[r + 1] = n
          }
        }
      }
    }
    for r in 0..<rows { offsets[r + 1] += offsets[r] }
    let total = offsets[rows]
    var indices = [Int32](repeating: 0, count: total)
    var values = [Float](repeating: 0, count: total)
    withExtendedLifetime(f) {
      let p = f.unsafePointer
      offsets.withUnsafeBufferPointer { o in
        indices.withUnsafeMutableBufferPointer { ib in
          values.withUnsafeMutableBufferPointer { vb in
            let po = o.baseAddress!, pi = ib.baseAddress, pv = vb.baseAddress
            guard let pi, let pv else { return }
            Parallel.forRanges(rows, grain: grain) { range in
              for r in range {
                var e = po[r]
                let row = p + r * width
                for j in 0..<width where row[j] != 0 {
                  pi[e] = Int32(j)
                  pv[e] = row[j]
                  e += 1
                }
              }
            }
          }
        }
      }
    }
    return FeatureMagnitudes(rows: rows, featureCount: width, offsets: offsets, indices: indices, values: values,
                             leadingShape: Array(f.shape.dropLast()))
  }
}
