import Testing
@testable import Tensor

/// The per-row top-k selection (`TopKKernel.selectRow`) against the plain reference (a stable sort of the
/// whole row) on rows wide enough for the gathered fast path (n ≥ 64, k ≤ 32), and on the rows that must leave
/// it for the scan: NaN anywhere, more than `maxCandidates` entries at or above the lane bound (massive ties,
/// ReLU rows of zeros), infinities, fewer than k numbers among the lane maxima, and widths that are not a
/// multiple of 8 or 32. In optimised builds this runs the SIMD paths; in debug builds the scalar scan.
@Suite struct TopKSelectionTests {
  static func select(_ x: [Float], _ k: Int) -> (values: [Float], indices: [Int32]) {
    var vals = [Float](repeating: 0, count: k), idx = [Int32](repeating: 0, count: k)
    x.withUnsafeBufferPointer { px in
      vals.withUnsafeMutableBufferPointer { pv in
        idx.withUnsafeMutableBufferPointer { pi in
          TopKKernel.selectRow(px.baseAddress!, x.count, k, pv.baseAddress!, pi.baseAddress!)
        }
      }
    }
    return (vals, idx)
  }

  static func expectMatchesReference(_ x: [Float], _ k: Int, _ label: String) {
    let got = select(x, k), want = TopKKernel.referenceSelectRow(x, k)
    #expect(got.indices == want.indices, "\(label): indices (n \(x.count), k \(k))")
    // Bitwise, so NaN == NaN and −0 differs from 0.
    #expect(got.values.map(\.bitPattern) == want.values.map(\.bitPattern), "\(label): values (n \(x.count), k \(k))")
  }

  @Test func randomRowsMatchTheReference() {
    var g = RandomGenerator(seed: 77)
    for n in [64, 65, 100, 512, 520, 2560] {
      for k in [1, 2, 5, 10, 17, 31, 32, 33] where k <= n {
        for _ in 0..<6 {
          let x = (0..<n).map { _ in g.nextNormal() }
          Self.expectMatchesReference(x, k, "normal")
        }
      }
    }
  }

  @Test func tiesGoToTheLowerIndex() {
    var g = RandomGenerator(seed: 78)
    for n in [64, 512, 777] {
      for k in [1, 10, 32] {
        // Few distinct values: many ties at and above the k-th value, often more candidates than the fast
        // path takes.
        for levels in [2, 5, 40, 400] {
          let x = (0..<n).map { _ in Float(g.nextInt(below: levels)) }
          Self.expectMatchesReference(x, k, "\(levels) levels")
        }
        Self.expectMatchesReference([Float](repeating: 3, count: n), k, "constant")
      }
    }
  }

  @Test func reluRowsWithFewPositives() {
    var g = RandomGenerator(seed: 79)
    for positives in [0, 1, 9, 10, 11, 40, 70] {
      var x = [Float](repeating: 0, count: 512)
      for _ in 0..<positives { x[g.nextInt(below: 512)] = g.nextUniform() + 0.01 }
      for k in [1, 10, 32] { Self.expectMatchesReference(x, k, "\(positives) positives") }
      // −0 among the zeros ranks equal to 0 (tie by index) and keeps its sign.
      x[3] = -0.0
      x[200] = -0.0
      Self.expectMatchesReference(x, 10, "signed zeros, \(positives) positives")
    }
  }

  @Test func nanAndInfinities() {
    var g = RandomGenerator(seed: 80)
    for k in [1, 10, 32] {
      var x = (0..<512).map { _ in g.nextNormal() }
      x[300] = .nan
      Self.expectMatchesReference(x, k, "one NaN")
      x[5] = .nan  // a NaN in the first block seeds a lane maximum
      Self.expectMatchesReference(x, k, "two NaN")
      var y = (0..<512).map { _ in g.nextNormal() }
      y[17] = .infinity
      y[400] = .infinity
      y[401] = -.infinity
      Self.expectMatchesReference(y, k, "±∞")
      // Every lane maximum NaN: the bound is −∞ and the scan takes over.
      var z = (0..<512).map { _ in g.nextNormal() }
      for j in 0..<32 { z[j] = .nan }
      Self.expectMatchesReference(z, k, "NaN first block")
      // All −∞ but a few.
      var w = [Float](repeating: -.infinity, count: 512)
      w[100] = 1
      w[499] = 2
      Self.expectMatchesReference(w, k, "mostly −∞")
    }
  }

  @Test func laneBoundIsTheKthLargestLaneMaximum() {
    var g = RandomGenerator(seed: 81)
    for trial in 0..<50 {
      let lanes = (0..<32).map { _ in trial % 3 == 0 ? Float(g.nextInt(below: 4)) : g.nextNormal() }
      let acc = (VectorMath.V(lanes[0..<8]), VectorMath.V(lanes[8..<16]), VectorMath.V(lanes[16..<24]), VectorMath.V(lanes[24..<32]))
      for k in [1, 7, 10, 32] {
        #expect(TopKKernel.boundOfLaneMaxima(acc, k) == lanes.sorted(by: >)[k - 1], "trial \(trial), k \(k)")
      }
      var withNaN = lanes
      withNaN[trial % 32] = .nan
      let accN = (VectorMath.V(withNaN[0..<8]), VectorMath.V(withNaN[8..<16]), VectorMath.V(withNaN[16..<24]), VectorMath.V(withNaN[24..<32]))
      let numbers = withNaN.filter { !$0.isNaN }.sorted(by: >)
      #expect(TopKKernel.boundOfLaneMaxima(accN, 10) == numbers[9])
      #expect(TopKKernel.boundOfLaneMaxima(accN, 32) == -.infinity, "31 numbers: no 32nd largest")
    }
  }

  @Test func gatherCandidatesListsEntriesAtOrAboveTheBound() {
    var g = RandomGenerator(seed: 82)
    let x = (0..<300).map { _ in g.nextNormal() }
    var indices = [Int32](repeating: 0, count: TopKKernel.candidateCapacity)
    var values = [Float](repeating: 0, count: TopKKernel.candidateCapacity)
    let bound = x.sorted(by: >)[20]
    let m = x.withUnsafeBufferPointer { px in
      indices.withUnsafeMutableBufferPointer { pi in
        values.withUnsafeMutableBufferPointer { pv in
          TopKKernel.gatherCandidates(px.baseAddress!, x.count, bound: bound, indices: pi.baseAddress!, values: pv.baseAddress!)
        }
      }
    }
    let want = x.indices.filter { x[$0] >= bound }
    #expect(m == want.count)
    #expect(Array(indices.prefix(want.count)) == want.map { Int32($0) })
    #expect(Array(values.prefix(want.count)) == want.map { x[$0] })
    #expect(values[want.count..<((want.count + 7) / 8 * 8)].allSatisfy { $0 == -.infinity })
    // Too many candidates, or a NaN: nil.
    let low = x.sorted(by: >)[TopKKernel.maxCandidates]
    let none = x.withUnsafeBufferPointer { px in
      indices.withUnsafeMutableBufferPointer { pi in
        values.withUnsafeMutableBufferPointer { pv in
          TopKKernel.gatherCandidates(px.baseAddress!, x.count, bound: low, indices: pi.baseAddress!, values: pv.baseAddress!)
        }
      }
    }
    #expect(none == nil)
    var y = x
    y[299] = .nan
    let nan = y.withUnsafeBufferPointer { px in
      indices.withUnsafeMutableBufferPointer { pi in
        values.withUnsafeMutableBufferPointer { pv in
          TopKKernel.gatherCandidates(px.baseAddress!, y.count, bound: bound, indices: pi.baseAddress!, values: pv.baseAddress!)
        }
      }
    }
    #expect(nan == nil)
  }
}
