import Autograd
import Tensor

/// The named loss components of one SAE on one batch (SAELens style). `total` = reconstruct + sparsity + aux.
public struct SAELossComponents {
  /// Σ over channels of the squared reconstruction error, mean over tokens.
  public var reconstruct: Variable
  /// The variant's sparsity penalty (zero for TopK).
  public var sparsity: Variable
  /// The variant's auxiliary loss (zero unless the variant defines one).
  public var aux: Variable
  /// Mean number of nonzero features per token.
  public var l0: Float
  /// Mean L2 norm of the input over tokens.
  public var xNorm: Float
  /// Mean L1 norm of the input over tokens.
  public var xL1: Float

  public init(reconstruct: Variable, sparsity: Variable, aux: Variable, l0: Float, xNorm: Float, xL1: Float) {
    self.reconstruct = reconstruct
    self.sparsity = sparsity
    self.aux = aux
    self.l0 = l0
    self.xNorm = xNorm
    self.xL1 = xL1
  }

  /// reconstruct + sparsity + aux.
  public var total: Variable { reconstruct + sparsity + aux }

  /// Mean over tokens of Σ_c (x − x̂)²; x is a constant target.
  ///
  /// One fused node: the forward sums each row's squared errors in 8 lanes (rows split over the threads) and
  /// the rows in Double in row order (the same bits on any number of cores); the backward is
  /// 2·(x̂ − x)·g / rows in one pass, with nothing kept but x and x̂.
  public static func reconstructionLoss(_ x: Tensor, _ reconstruction: Variable) -> Variable {
    let r = reconstruction.value
    precondition(r.shape == x.shape, "reconstruction loss: x̂ \(r.shape) vs x \(x.shape)")
    let c = x.shape.last ?? 1
    var rowSums = [Float](repeating: 0, count: x.count / Swift.max(c, 1))
    withExtendedLifetime((x, r)) {
      let px = x.unsafePointer, pr = r.unsafePointer
      rowSums.withUnsafeMutableBufferPointer { out in
        let po = out.baseAddress
        Parallel.forRanges(out.count, grain: 1024) { range in
          for row in range { po![row] = squaredError(pr + row * c, px + row * c, c) }
        }
      }
    }
    return reconstructionLoss(x, reconstruction, rowSquaredErrors: rowSums)
  }

  /// The same loss from each row's Σ_c (x̂ − x)² computed beforehand with `squaredError` (a fused kernel's
  /// by-product): the same bits as `reconstructionLoss(_:_:)`.
  public static func reconstructionLoss(_ x: Tensor, _ reconstruction: Variable, rowSquaredErrors rowSums: [Float]) -> Variable {
    let r = reconstruction.value
    precondition(r.shape == x.shape, "reconstruction loss: x̂ \(r.shape) vs x \(x.shape)")
    let c = x.shape.last ?? 1, rows = Swift.max(1, x.count / Swift.max(c, 1))
    precondition(rowSums.count == x.count / Swift.max(c, 1), "reconstruction loss: \(rowSums.count) row sums for \(x.count / Swift.max(c, 1)) rows")
    var sum = 0.0
    for v in rowSums { sum += Double(v) }
    let loss = Tensor(scalar: Float(sum / Double(rows)))
    return Variable.record(loss, operation: "reconstruction_loss", inputs: [reconstruction]) { g in
      let scale = 2 * g.scalar / Float(rows)
      var d = Tensor(uninitialized: r.shape)
      let pd = d.unsafeMutablePointer(), n = r.count
      withExtendedLifetime((x, r)) {
        let px = x.unsafePointer, pr = r.unsafePointer
        Parallel.forRanges(n, grain: 1 << 15) { range in
          var i = range.lowerBound
          let sv = VectorMath.V(repeating: scale)
          while VectorMath.vectorized && i + 8 <= range.upperBound {
            VectorMath.store((VectorMath.load(pr + i) - VectorMath.load(px + i)) * sv, pd + i)
            i += 8
          }
          while i < range.upperBound { pd[i] = (pr[i] - px[i]) * scale; i += 1 }
        }
      }
      return [d]
    }
  }

  /// Σ_j (a[j] − b[j])² over one row of c values: 8 lanes, then the lanes' sum, then the remainder in order.
  @inline(__always)
  public static func squaredError(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: Int) -> Float {
    var j = 0
    var total: Float = 0
    if VectorMath.vectorized && c >= 8 {
      var acc = VectorMath.V()
      while j + 8 <= c {
        let d = VectorMath.load(a + j) - VectorMath.load(b + j)
        acc += d * d
        j += 8
      }
      total = acc.sum()
    }
    while j < c { let d = a[j] - b[j]; total += d * d; j += 1 }
    return total
  }

  /// (mean L2 norm, mean L1 norm) of the rows of x [..., C]: each row's sums in 8 lanes (rows split over the
  /// threads), the means over rows in Double in row order (the same bits on any number of cores).
  public static func inputNorms(_ x: Tensor) -> (l2: Float, l1: Float) {
    let c = x.shape.last!
    let rows = x.count / c
    guard rows > 0 else { return (0, 0) }
    var l2Rows = [Float](repeating: 0, count: rows), l1Rows = [Float](repeating: 0, count: rows)
    x.withUnsafeBufferPointer { p in
      l2Rows.withUnsafeMutableBufferPointer { o2 in
        l1Rows.withUnsafeMutableBufferPointer { o1 in
          let p2 = o2.baseAddress!, p1 = o1.baseAddress!, px = p.baseAddress!
          Parallel.forRanges(rows, grain: 1024) { range in
            for r in range { (p2[r], p1[r]) = rowNorms(px + r * c, c) }
          }
        }
      }
    }
    return inputNorms(rowL2: l2Rows, rowL1: l1Rows)
  }

  /// The means of per-row norms computed beforehand with `rowNorms` (a fused kernel's by-product): the same
  /// bits as `inputNorms(_:)`.
  public static func inputNorms(rowL2: [Float], rowL1: [Float]) -> (l2: Float, l1: Float) {
    precondition(rowL2.count == rowL1.count, "input norms: \(rowL2.count) L2 rows vs \(rowL1.count) L1 rows")
    let rows = rowL2.count
    guard rows > 0 else { return (0, 0) }
    var l2 = 0.0, l1 = 0.0
    for r in 0..<rows {
      l2 += Double(rowL2[r])
      l1 += Double(rowL1[r])
    }
    return (Float(l2 / Double(rows)), Float(l1 / Double(rows)))
  }

  /// (L2 norm, L1 norm) of one row of c values: each sum in 8 lanes, then the lanes' sum, then the remainder.
  @inline(__always)
  public static func rowNorms(_ row: UnsafePointer<Float>, _ c: Int) -> (l2: Float, l1: Float) {
    var j = 0
    var s2: Float = 0, s1: Float = 0
    if VectorMath.vectorized && c >= 8 {
      // Two passes over the row (in L1), one per sum: with both sums in one loop the compiler took the
      // lanes of |v| apart one by one (scalar ands and shuffles, 3% of a TopK SAE step).
      var a2 = VectorMath.V(), a1 = VectorMath.V()
      while j + 8 <= c {
        let v = VectorMath.load(row + j)
        a2 += v * v
        j += 8
      }
      s2 = a2.sum()
      var i = 0
      while i + 8 <= c {
        a1 += unsafeBitCast(unsafeBitCast(VectorMath.load(row + i), to: SIMD8<UInt32>.self) & 0x7fff_ffff,
                            to: VectorMath.V.self)  // |v|
        i += 8
      }
      s1 = a1.sum()
    }
    while j < c {
      s2 += row[j] * row[j]
      s1 += Swift.abs(row[j])
      j += 1
    }
    return (s2.squareRoot(), s1)
  }

  /// A constant zero scalar.
  public static var zero: Variable { Variable(Tensor(scalar: 0)) }
}

/// What one SAE returns for a batch of activations.
public struct SAEOutput {
  /// x̂ [..., C].
  public var reconstruction: Variable
  /// Nonzero feature magnitudes per token.
  public var magnitudes: FeatureMagnitudes
  /// For TopK variants, the k indices chosen per token [..., k] (they may include zero-valued features).
  public var topKIndices: IntTensor?
  public var losses: SAELossComponents
}
