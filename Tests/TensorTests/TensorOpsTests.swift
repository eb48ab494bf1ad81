import Foundation
import Testing
import Tensor

/// Elementwise, reduction, softmax, top-k, indexing and matmul operations against plain references.
@Suite struct TensorOpsTests {
  // MARK: broadcasting binary ops

  static let broadcastPairs: [([Int], [Int])] = [
    ([2, 3], [2, 3]), ([2, 3], [3]), ([3], [2, 3]), ([2, 3], [1]), ([1], [2, 3]), ([2, 3], []), ([], [2, 3]),
    ([2, 1, 3], [4, 1]), ([4, 1], [2, 1, 3]), ([2, 3], [2, 1]), ([2, 1], [1, 3]), ([1, 3, 1], [2, 1, 4]),
    ([5, 1, 1, 2], [3, 1, 2]), ([2, 3, 4], [3, 4]), ([2, 3, 4], [1, 3, 4]), ([2, 3, 4], [2, 3, 1]),
    ([1, 1, 4], [2, 3, 4]), ([3, 1], [3, 17]), ([2, 1, 9], [1, 3, 1]),
  ]

  @Test(arguments: broadcastPairs)
  func broadcastBinaryOps(a aShape: [Int], b bShape: [Int]) {
    let a = Ref.random(aShape, seed: 11)
    // b away from zero so that division is well conditioned.
    let b = Ref.random(bShape, seed: 12, low: 0.5, high: 2).map { $0 * ($0 > 1.25 ? -1 : 1) }
    let ops: [(BinaryOp, (Float, Float) -> Float)] = [
      (.add, { $0 + $1 }), (.sub, { $0 - $1 }), (.mul, { $0 * $1 }), (.div, { $0 / $1 }),
      (.maximum, { Swift.max($0, $1) }), (.minimum, { Swift.min($0, $1) }),
    ]
    for (op, f) in ops {
      let got = a.binary(op, b)
      let want = Ref.broadcast(a, b, f)
      #expect(got == want, "\(op) on \(aShape) and \(bShape)")
    }
    #expect((a + b) == Ref.broadcast(a, b, +))
    #expect((a - b) == Ref.broadcast(a, b, -))
    #expect((a * b) == Ref.broadcast(a, b, *))
    #expect((a / b) == Ref.broadcast(a, b, /))
  }

  @Test func broadcastShapeRules() {
    #expect(Shape.broadcast([2, 1, 3], [4, 1]) == [2, 4, 3])
    #expect(Shape.broadcast([], [3]) == [3])
    #expect(Shape.broadcast([5, 1], [1, 6]) == [5, 6])
    #expect(Shape.broadcastStrides(from: [4, 1], to: [2, 4, 3]) == [0, 1, 0])
    #expect(Shape.broadcastStrides(from: [2, 1, 3], to: [2, 4, 3]) == [3, 0, 1])
    #expect(Shape.strides([2, 3, 4]) == [12, 4, 1])
    #expect(Shape.axis(-1, rank: 3) == 2)
  }

  @Test func maximumMinimumPropagateNaN() {
    let a = Tensor([.nan, 1, 2]), b = Tensor([0, .nan, 3])
    let mx = a.binary(.maximum, b).scalars, mn = a.binary(.minimum, b).scalars
    #expect(mx[0].isNaN && mn[0].isNaN)
    #expect(mx[2] == 3 && mn[2] == 2)
  }

  @Test func scalarOperators() {
    let a = Tensor([1, -2, 4])
    #expect((a * 2).scalars == [2, -4, 8])
    #expect((2 * a).scalars == [2, -4, 8])
    #expect((a + 1).scalars == [2, -1, 5])
    #expect((1 + a).scalars == [2, -1, 5])
    #expect((a - 1).scalars == [0, -3, 3])
    #expect((1 - a).scalars == [0, 3, -3])
    #expect((a / 2).scalars == [0.5, -1, 2])
    #expect((-a).scalars == [-1, 2, -4])
    #expect(a.scaled(0.5).scalars == [0.5, -1, 2])
    #expect(a.adding(-4).scalars == [-3, -6, 0])
    #expect(a.maxAbsDifference(Tensor([1, -2, 3])) == 1)
    #expect(a.isFinite && !Tensor([1, .infinity]).isFinite)
  }

  // MARK: unary

  @Test func unaryOpsMatchScalarFunctions() {
    // 37 values: covers the 8-lane SIMD body and a scalar tail.
    let x = Tensor((0..<37).map { -4 + Float($0) * 0.23 })
    let pos = Tensor((0..<37).map { 0.05 + Float($0) * 0.31 })
    func check(_ t: Tensor, _ op: UnaryOp, tol: Float, _ f: (Double) -> Double) {
      let got = t.unary(op).scalars
      let want = t.scalars.map { Float(f(Double($0))) }
      #expect(Ref.maxRelDiff(got, want, floor: 1e-6) <= tol, "\(op)")
    }
    check(x, .neg, tol: 0) { -$0 }
    check(x, .exp, tol: 3e-7) { Foundation.exp($0) }
    check(pos, .log, tol: 3e-7) { Foundation.log($0) }
    check(x, .tanh, tol: 1e-6) { Foundation.tanh($0) }
    check(pos, .sqrt, tol: 1.2e-7) { $0.squareRoot() }
    check(x, .abs, tol: 0) { Swift.abs($0) }
    check(x, .relu, tol: 0) { Swift.max($0, 0) }
    check(x, .sigmoid, tol: 3e-7) { 1 / (1 + Foundation.exp(-$0)) }
    check(x, .square, tol: 1.2e-7) { $0 * $0 }
    check(pos, .reciprocal, tol: 1.2e-7) { 1 / $0 }
    check(x, .gelu, tol: 2e-6) { 0.5 * $0 * (1 + Foundation.tanh(0.7978845608028654 * ($0 + 0.044715 * $0 * $0 * $0))) }
  }

  @Test func powClampWhereGreater() {
    let x = Tensor([0.25, 1, 2.5, 4])
    for p: Float in [2, 1, 0.5, 3, -1.5, 0] {
      let want = x.scalars.map { Foundation.powf($0, p) }
      #expect(Ref.maxRelDiff(x.pow(p).scalars, want) < 2e-7, "pow \(p)")
    }
    let y = Tensor([-3, -1, 0, 1, 3])
    #expect(y.clamped(min: -1, max: 2).scalars == [-1, -1, 0, 1, 2])
    #expect(y.clamped(min: 0).scalars == [0, 0, 0, 1, 3])
    #expect(y.clamped(max: -2).scalars == [-3, -2, -2, -2, -2])
    #expect(y.greater(than: 0).scalars == [0, 0, 0, 1, 1])
    // where with all three operands broadcasting: condition [2, 1], self [3], other [2, 3]
    let cond = Tensor(shape: [2, 1], scalars: [1, 0])
    let a = Tensor([1, 2, 3]), b = Tensor(shape: [2, 3], scalars: [10, 20, 30, 40, 50, 60])
    let w = a.whereMask(cond, else: b)
    #expect(w.shape == [2, 3] && w.scalars == [1, 2, 3, 40, 50, 60])
    #expect(x.map { $0 * 2 }.scalars == [0.5, 2, 5, 8])
  }

  // MARK: reductions

  @Test(arguments: [[3, 4, 5], [2, 1, 7], [300], [2, 600], [3, 260, 2]])
  func sumAndMeanOverAxes(shape: [Int]) {
    let t = Ref.random(shape, seed: 21)
    for axis in 0..<shape.count {
      for keep in [false, true] {
        let want = Ref.sum(t, axis: axis, keepDims: keep)
        let got = t.sum(axis: axis, keepDims: keep)
        #expect(got.shape == want.shape)
        #expect(Ref.maxAbsDiff(got.scalars, want.scalars) < 1e-5, "sum axis \(axis) of \(shape)")
        let mean = t.mean(axis: axis - shape.count, keepDims: keep)  // negative axis
        #expect(Ref.maxAbsDiff(mean.scalars, want.scalars.map { $0 / Float(shape[axis]) }) < 1e-6)
      }
    }
    let total = t.scalars.reduce(0.0) { $0 + Double($1) }
    #expect(abs(Double(t.sum()) - total) < 1e-5)
    #expect(abs(Double(t.mean()) - total / Double(t.count)) < 1e-7)
  }

  @Test func sumOverSeveralAxes() {
    let t = Ref.random([2, 3, 4], seed: 5)
    let both = t.sum(axes: [0, 2])
    let want = Ref.sum(Ref.sum(t, axis: 2, keepDims: false), axis: 0, keepDims: false)
    #expect(both.shape == [3] && Ref.maxAbsDiff(both.scalars, want.scalars) < 1e-6)
    let kept = t.sum(axes: [-1, 0], keepDims: true)
    #expect(kept.shape == [1, 3, 1] && Ref.maxAbsDiff(kept.scalars, want.scalars) < 1e-6)
    let m = t.mean(axes: [0, 2])
    #expect(Ref.maxAbsDiff(m.scalars, want.scalars.map { $0 / 8 }) < 1e-6)
    #expect(t.sum(axes: [0, 1, 2]).shape == [])
  }

  @Test func longSumIsAccurate() {
    let t = Tensor(shape: [1, 100_000], repeating: 0.1)
    // Float accumulation would drift by ~1e-3 relative; Double accumulation stays at Float rounding.
    #expect(abs(t.sum(axis: 1).scalar - 10_000.0) < 2e-3)
    #expect(abs(t.sum() - 10_000.0) < 2e-3)
  }

  @Test func maxArgmaxWithTies() {
    let t = Tensor(shape: [2, 4], scalars: [1, 5, 5, 2, -1, -3, -1, -2])
    #expect(t.max(axis: 1).scalars == [5, -1])
    #expect(t.argmax(axis: 1).scalars == [1, 0])  // first of the tied maxima
    #expect(t.argmax(axis: 1, keepDims: true).shape == [2, 1])
    #expect(t.max(axis: 0).scalars == [1, 5, 5, 2])
    #expect(t.argmax(axis: 0).scalars == [0, 0, 0, 0])
    let u = Ref.random([3, 5, 4], seed: 9)
    let (v, i) = u.maxWithIndices(axis: 1)
    for a in 0..<3 {
      for c in 0..<4 {
        let col = (0..<5).map { u[a, $0, c] }
        #expect(v[a, c] == col.max()! && Int(i[a, c]) == col.firstIndex(of: col.max()!)!)
      }
    }
    #expect(u.max() == u.scalars.max()! && u.min() == u.scalars.min()!)
    let n = Tensor([1, .nan, 3])
    #expect(n.max(axis: 0).scalar.isNaN && n.argmax(axis: 0).scalars == [1])
  }

  @Test func norms() {
    let t = Tensor(shape: [2, 3], scalars: [3, -4, 0, 1, 2, -2])
    #expect(t.norm(axis: 1).scalars == [5, 3])
    #expect(t.norm(axis: 1, p: 1).scalars == [7, 5])
    let p3 = t.norm(axis: 1, p: 3, keepDims: true)
    #expect(p3.shape == [2, 1] && abs(p3[0, 0] - Foundation.powf(91, 1.0 / 3)) < 1e-5)
    #expect(abs(t.norm() - Float(34.0.squareRoot())) < 1e-6)
  }

  // MARK: softmax

  @Test(arguments: [[2, 5], [3, 8], [1, 17], [2, 2, 33], [4, 1]])
  func softmaxAndLogSoftmax(shape: [Int]) {
    let t = Ref.random(shape, seed: 31, low: -6, high: 6)
    let n = shape.last!
    let s = t.softmax().scalars, ls = t.logSoftmax().scalars
    for row in 0..<(t.count / n) {
      let x = Array(t.scalars[(row * n)..<((row + 1) * n)]).map(Double.init)
      let m = x.max()!
      let z = x.map { Foundation.exp($0 - m) }.reduce(0, +)
      for j in 0..<n {
        let p = Foundation.exp(x[j] - m) / z
        #expect(abs(Double(s[row * n + j]) - p) <= 3e-7 * p + 1e-9)
        #expect(abs(Double(ls[row * n + j]) - (x[j] - m - Foundation.log(z))) < 2e-6)
      }
    }
  }

  @Test func softmaxIsStableForLargeInputs() {
    let t = Tensor(shape: [2, 3], scalars: [1000, 1001, 1002, -1000, -1000, -1000])
    let s = t.softmax()
    #expect(s.isFinite)
    #expect(abs(s[0, 2] - 0.66524096) < 1e-6 && abs(s[1, 0] - 1.0 / 3) < 1e-7)
    let ls = t.logSoftmax()
    #expect(abs(ls[0, 2] + 0.40760596) < 1e-6)
    let withInf = Tensor([0, -.infinity, 0]).softmax().scalars
    #expect(withInf == [0.5, 0, 0.5])
  }

  // MARK: top-k

  @Test func topKSortedWithTiesToLowerIndex() {
    let t = Tensor(shape: [2, 6], scalars: [3, 1, 3, 2, 3, 0, -1, -2, 5, 5, -2, 4])
    let (v, i) = t.topK(3)
    #expect(v.shape == [2, 3] && i.shape == [2, 3])
    #expect(v.scalars == [3, 3, 3, 5, 5, 4])
    #expect(i.scalars == [0, 2, 4, 2, 3, 5])  // indices within each row
    let (v2, i2) = t.topK(6)
    #expect(v2.scalars == [3, 3, 3, 2, 1, 0, 5, 5, 4, -1, -2, -2])
    #expect(i2.scalars == [0, 2, 4, 3, 1, 5, 2, 3, 5, 0, 1, 4])
    let (v1, i1) = Tensor([.nan, 7, .nan]).topK(2)
    #expect(v1.scalars[0].isNaN && v1.scalars[1].isNaN && i1.scalars == [0, 2])
  }

  @Test func topKMatchesSortOnRandomRows() {
    let t = Ref.random([5, 3, 40], seed: 41).map { ($0 * 8).rounded() }  // many ties
    for k in [1, 7, 40] {
      let (v, i) = t.topK(k)
      let (v2, i2) = t.topK(k)
      #expect(v == v2 && i == i2)
      for row in 0..<15 {
        let x = Array(t.scalars[(row * 40)..<((row + 1) * 40)])
        let order = (0..<40).sorted { x[$0] > x[$1] || (x[$0] == x[$1] && $0 < $1) }
        #expect(Array(i.scalars[(row * k)..<((row + 1) * k)]) == order.prefix(k).map { Int32($0) })
        #expect(Array(v.scalars[(row * k)..<((row + 1) * k)]) == order.prefix(k).map { x[$0] })
      }
    }
  }

  // MARK: indexing

  @Test func indexSelectAndIndexAdd() {
    let t = Ref.iota([2, 4, 3])
    let idx = IntTensor(shape: [2, 2], scalars: [3, 0, 3, 1])
    let s = t.indexSelect(axis: 1, idx)
    #expect(s.shape == [2, 2, 2, 3])
    for a in 0..<2 { for p in 0..<2 { for q in 0..<2 { for c in 0..<3 {
      #expect(s[a, p, q, c] == t[a, Int(idx[p, q]), c])
    } } } }
    // indexAdd is the adjoint: ⟨indexSelect(x), g⟩ = ⟨x, indexAdd(g)⟩
    let g = Ref.random(s.shape, seed: 2)
    let back = g.indexAdd(axis: 1, idx, length: 4)
    #expect(back.shape == [2, 4, 3])
    var want = [Float](repeating: 0, count: 24)
    for a in 0..<2 { for p in 0..<2 { for q in 0..<2 { for c in 0..<3 {
      want[(a * 4 + Int(idx[p, q])) * 3 + c] += g[a, p, q, c]
    } } } }
    #expect(Ref.maxAbsDiff(back.scalars, want) < 1e-6)
    // axis 0 (embedding lookup)
    let table = Ref.iota([5, 2])
    let rows = table.indexSelect(axis: 0, IntTensor([4, 4, 0]))
    #expect(rows.scalars == [9, 10, 9, 10, 1, 2])
    #expect(Tensor.ones([3, 2]).indexAdd(axis: 0, IntTensor([4, 4, 0]), length: 5).scalars == [1, 1, 0, 0, 0, 0, 0, 0, 2, 2])
    // A wide inner dimension exercises the threaded column split.
    let wide = Ref.random([3, 100], seed: 8)
    let wi = IntTensor([2, 0, 2, 2])
    let wb = wide.indexSelect(axis: 0, wi).indexAdd(axis: 0, wi, length: 3)
    #expect(Ref.maxAbsDiff(wb.scalars, (wide.slice(axis: 0, 0..<1).scalars + [Float](repeating: 0, count: 100)
                                       + wide.slice(axis: 0, 2..<3).scaled(3).scalars)) < 1e-5)
  }

  @Test func gatherAndScatterAdd() {
    let t = Ref.iota([2, 3, 4])
    var g = RandomGenerator(seed: 4)
    let idxShape = [2, 5, 4]
    let idx = IntTensor(shape: idxShape, scalars: (0..<40).map { _ in Int32(g.nextInt(below: 3)) })
    let out = t.gather(axis: 1, idx)
    #expect(out.shape == idxShape)
    for a in 0..<2 { for j in 0..<5 { for c in 0..<4 { #expect(out[a, j, c] == t[a, Int(idx[a, j, c]), c]) } } }

    let src = Ref.random(idxShape, seed: 6)
    let base = Ref.random([2, 3, 4], seed: 7)
    let sc = base.scatterAdd(axis: 1, idx, src)
    var want = base.scalars
    for a in 0..<2 { for j in 0..<5 { for c in 0..<4 { want[(a * 3 + Int(idx[a, j, c])) * 4 + c] += src[a, j, c] } } }
    #expect(Ref.maxAbsDiff(sc.scalars, want) < 1e-6)
    #expect(base == Ref.random([2, 3, 4], seed: 7))  // receiver unchanged

    // last axis (the cross-entropy pattern)
    let logits = Ref.iota([3, 4])
    let tgt = IntTensor(shape: [3, 1], scalars: [2, 0, 3])
    #expect(logits.gather(axis: -1, tgt).scalars == [3, 5, 12])
  }

  // MARK: matmul

  @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
  func matmul2D(transposeA: Bool, transposeB: Bool) {
    let (m, k, n) = (5, 7, 3)
    let a = Ref.random(transposeA ? [k, m] : [m, k], seed: 51)
    let b = Ref.random(transposeB ? [n, k] : [k, n], seed: 52)
    let c = Tensor.matmul(a, b, transposeA: transposeA, transposeB: transposeB)
    let want = Ref.matmul2D(a, b, transposeA: transposeA, transposeB: transposeB)
    #expect(c.shape == [m, n])
    #expect(Ref.maxAbsDiff(c.scalars, want.scalars) < 1e-5)
  }

  @Test(arguments: [false, true])
  func matmulNDby2D(transposeB: Bool) {
    let a = Ref.random([2, 3, 4], seed: 53)
    let b = Ref.random(transposeB ? [6, 4] : [4, 6], seed: 54)
    let c = Tensor.matmul(a, b, transposeB: transposeB)
    #expect(c.shape == [2, 3, 6])
    let want = Ref.matmul2D(a.reshaped([6, 4]), b, transposeB: transposeB)
    #expect(Ref.maxAbsDiff(c.scalars, want.scalars) < 1e-5)
  }

  @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
  func matmulBatched(transposeA: Bool, transposeB: Bool) {
    let (m, k, n) = (3, 4, 5)
    let batch = [2, 3]
    let a = Ref.random(batch + (transposeA ? [k, m] : [m, k]), seed: 55)
    let b = Ref.random(batch + (transposeB ? [n, k] : [k, n]), seed: 56)
    let c = Tensor.matmul(a, b, transposeA: transposeA, transposeB: transposeB)
    #expect(c.shape == batch + [m, n])
    for i in 0..<6 {
      let ai = a.reshaped([6, m * k]).slice(axis: 0, i..<(i + 1)).reshaped(transposeA ? [k, m] : [m, k])
      let bi = b.reshaped([6, n * k]).slice(axis: 0, i..<(i + 1)).reshaped(transposeB ? [n, k] : [k, n])
      let ci = c.reshaped([6, m * n]).slice(axis: 0, i..<(i + 1))
      let want = Ref.matmul2D(ai, bi, transposeA: transposeA, transposeB: transposeB)
      #expect(Ref.maxAbsDiff(ci.scalars, want.scalars) < 1e-5)
    }
  }

  @Test func matmulLargeBatchedAndEmpty() {
    // Big enough that each product is threaded inside OpenBLAS rather than split over the batch.
    let a = Ref.random([2, 80, 70], seed: 57), b = Ref.random([2, 70, 60], seed: 58)
    let c = Tensor.matmul(a, b)
    let want1 = Ref.matmul2D(a.slice(axis: 0, 1..<2).reshaped([80, 70]), b.slice(axis: 0, 1..<2).reshaped([70, 60]))
    #expect(Ref.maxAbsDiff(c.slice(axis: 0, 1..<2).scalars, want1.scalars) < 1e-4)
    // Each product above the parallel threshold: batches run one after another, each split inside sgemm.
    let p = Ref.random([2, 128, 64], seed: 59), q = Ref.random([2, 64, 128], seed: 60)
    let pq = Tensor.matmul(p, q)
    let want0 = Ref.matmul2D(p.slice(axis: 0, 0..<1).reshaped([128, 64]), q.slice(axis: 0, 0..<1).reshaped([64, 128]))
    #expect(Ref.maxAbsDiff(pq.slice(axis: 0, 0..<1).scalars, want0.scalars) < 1e-4)
    // K = 0: the product of empty matrices is a zero matrix.
    let z = Tensor.matmul(Tensor.zeros([3, 0]), Tensor.zeros([0, 4]))
    #expect(z.shape == [3, 4] && z.scalars == [Float](repeating: 0, count: 12))
    #expect(Tensor.matmul(Tensor.zeros([0, 3]), Tensor.ones([3, 2])).shape == [0, 2])
  }

  /// Products above `BLAS.parallelThreshold` multiply-adds are split over cores by rows of C, by columns of C
  /// or by the inner dimension; each split, with every transpose, α, β and a C row stride wider than n.
  @Test(arguments: [(128, 64, 128), (16, 256, 256), (16, 32, 2048)])
  func blasSplitProducts(m: Int, n: Int, k: Int) {
    #expect(m * n * k >= BLAS.parallelThreshold)
    for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
      let a = Ref.random(ta ? [k, m] : [m, k], seed: 63), b = Ref.random(tb ? [n, k] : [k, n], seed: 64)
      let ldc = n + 3
      let c0 = Ref.random([m, ldc], seed: 65)
      var c = c0
      withExtendedLifetime((a, b)) {
        BLAS.sgemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: 1.5, a: a.unsafePointer, lda: a.shape[1],
                   b: b.unsafePointer, ldb: b.shape[1], beta: 0.5, c: c.unsafeMutablePointer(), ldc: ldc)
      }
      let prod = Ref.matmul2D(a, b, transposeA: ta, transposeB: tb).scalars
      var worst: Float = 0
      for i in 0..<m {
        for j in 0..<ldc {
          let want = j < n ? 1.5 * prod[i * n + j] + 0.5 * c0[i, j] : c0[i, j]
          worst = max(worst, abs(c[i, j] - want))
        }
      }
      #expect(worst < 2e-4 * Float(k).squareRoot(), "m \(m) n \(n) k \(k) tA \(ta) tB \(tb): error \(worst)")
    }
  }


  /// A product split over cores by rows or columns of C equals one call over all of them bit for bit, also
  /// when the rows or columns do not divide evenly (66 rows: the parts start on a 16-row tile boundary, so a
  /// kernel whose remainder tiles round differently, such as OpenBLAS's Prescott one, gives the same bits).
  @Test(arguments: [(66, 64, 256), (99, 64, 256), (66, 256, 64), (40, 330, 96), (45, 200, 120)])
  func blasSplitsEqualOneCall(m: Int, n: Int, k: Int) {
    #expect(m * n * k >= BLAS.parallelThreshold)
    let a = Ref.random([m, k], seed: 66), b = Ref.random([n, k], seed: 67)
    var split = Tensor(zeros: [m, n]), serial = Tensor(zeros: [m, n])
    withExtendedLifetime((a, b)) {
      BLAS.sgemm(transposeA: false, transposeB: true, m: m, n: n, k: k, a: a.unsafePointer, lda: k,
                 b: b.unsafePointer, ldb: k, c: split.unsafeMutablePointer(), ldc: n)
      BLAS.sgemmSerial(transposeA: false, transposeB: true, m: m, n: n, k: k, a: a.unsafePointer, lda: k,
                       b: b.unsafePointer, ldb: k, c: serial.unsafeMutablePointer(), ldc: n)
    }
    #expect(split == serial, "m \(m) n \(n) k \(k) on the \(BLAS.coreName) kernel")
  }
  /// Which OpenBLAS kernels the tools suggest (OPENBLAS_CORETYPE) when OpenBLAS fell back to its generic ones.
  @Test func betterCoreForTheGenericFallback() {
    let avx512: Set = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl"]
    #expect(BLAS.betterCore(than: "Prescott", cpuFlags: avx512) == "SkylakeX")
    #expect(BLAS.betterCore(than: "Prescott", cpuFlags: ["sse4_2", "avx", "avx2", "fma"]) == "Haswell")
    #expect(BLAS.betterCore(than: "Prescott", cpuFlags: ["sse4_2", "avx", "avx512f"]) == nil)
    #expect(BLAS.betterCore(than: "Cooperlake", cpuFlags: avx512) == nil)
    #expect(BLAS.betterCore(than: "Zen", cpuFlags: ["avx2", "fma"]) == nil)
  }

  /// When the Tensor module replaces OpenBLAS's choice of kernels: never when the environment chose
  /// (OPENBLAS_CORETYPE, even naming the generic kernels) or asks to keep OpenBLAS's choice.
  @Test func coreSelectionRespectsTheEnvironment() {
    let avx512: Set = ["avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl"]
    #expect(OpenBLASCoreSelection.coreToSelect(detected: "Prescott", environment: [:], cpuFlags: avx512) == "SkylakeX")
    #expect(OpenBLASCoreSelection.coreToSelect(detected: "Prescott", environment: ["PATH": "/bin"], cpuFlags: ["avx2", "fma"]) == "Haswell")
    #expect(OpenBLASCoreSelection.coreToSelect(detected: "Prescott", environment: ["OPENBLAS_CORETYPE": "Prescott"], cpuFlags: avx512) == nil)
    #expect(OpenBLASCoreSelection.coreToSelect(detected: "Prescott", environment: ["OPENBLAS_CORETYPE": ""], cpuFlags: avx512) == nil)
    #expect(OpenBLASCoreSelection.coreToSelect(detected: "Prescott", environment: [OpenBLASCoreSelection.keepVariable: "1"], cpuFlags: avx512) == nil)
    #expect(OpenBLASCoreSelection.coreToSelect(detected: "Haswell", environment: [:], cpuFlags: avx512) == nil)
    #expect(OpenBLASCoreSelection.coreToSelect(detected: "Prescott", environment: [:], cpuFlags: ["sse3"]) == nil)
  }

  /// This process runs the kernels the selection asks for (OpenBLAS built for many CPUs, as Debian's is, has
  /// the start-up path the switch goes through), the environment is as it was, and products stay right.
  @Test func thisProcessRunsTheSelectedKernels() throws {
    let selection = BLAS.coreSelection
    let environment = ProcessInfo.processInfo.environment
    let wanted = OpenBLASCoreSelection.coreToSelect(detected: selection.detected, environment: environment,
                                                    cpuFlags: CPUInfo.flags)
    let switchable = dlsym(dlopen(nil, RTLD_NOW), "gotoblas_dynamic_init") != nil
    #expect(selection.current == (switchable ? wanted ?? selection.detected : selection.detected))
    #expect(environment["OPENBLAS_CORETYPE"] == nil || !selection.replaced)
    let a = Ref.random([67, 45], seed: 71), b = Ref.random([45, 38], seed: 72)
    let c = Tensor.matmul(a, b)
    #expect(Ref.maxAbsDiff(c.scalars, Ref.matmul2D(a, b).scalars) < 1e-4)
  }

  @Test func blasAlphaBeta() {
    let a = Ref.random([3, 4], seed: 61), b = Ref.random([4, 2], seed: 62)
    var c = Tensor.ones([3, 2])
    withExtendedLifetime((a, b)) {
      BLAS.sgemm(transposeA: false, transposeB: false, m: 3, n: 2, k: 4, alpha: 2, a: a.unsafePointer, lda: 4,
                 b: b.unsafePointer, ldb: 2, beta: 0.5, c: c.unsafeMutablePointer(), ldc: 2)
    }
    let want = Ref.matmul2D(a, b).scaled(2).adding(0.5)
    #expect(Ref.maxAbsDiff(c.scalars, want.scalars) < 1e-5)
  }

  @Test func parallelForRangesCoversEveryIndexOnce() {
    for (count, grain) in [(0, 1), (1, 1), (7, 1), (1000, 10), (1001, 2000), (100_003, 1)] {
      var hits = [Int32](repeating: 0, count: count)
      hits.withUnsafeMutableBufferPointer { h in
        let p = h.baseAddress
        Parallel.forRanges(count, grain: grain) { r in for i in r { p![i] += 1 } }
      }
      #expect(hits.allSatisfy { $0 == 1 }, "count \(count) grain \(grain)")
    }
  }
}
