import Autograd
import Foundation
import GPT
import SAE
import Tensor
import Testing
@testable import Experiments

/// Pruned forwards against the direct definition, and sweep invariants, on small random models.
@Suite struct EdgeAblationTests {
  static func ablation(_ model: SparsifiedGPT, layer: Int, prompts: IntTensor) throws -> PairAblation {
    let pair = try CircuitPair(model: model, layer: layer)
    let clean = try withNoGrad { try model.gpt(prompts).value }
    return try PairAblation(pair: pair, prompts: prompts, cleanLogits: clean)
  }

  static func models() throws -> [(String, SparsifiedGPT)] {
    [("transformer block", try TestModels.transformerBlock(seed: 31)),
     ("FF layer", try TestModels.ffLayer(seed: 32)),
     ("FF block", try TestModels.ffBlock(seed: 33))]
  }

  /// Random edge subsets of several sizes (shared parent sets included): fast == direct definition, with
  /// both strategies (per position and per prompt) for the position-wise paths.
  @Test func prunedMagnitudesMatchDefinition() throws {
    let prompts = TestModels.tokens(rows: 3, length: 10, seed: 40)
    for (name, model) in try Self.models() {
      for layer in [0, 1] {
        let ablation = try Self.ablation(model, layer: layer, prompts: prompts)
        let total = ablation.totalEdges
        for (n, seed) in [(1, 1), (7, 2), (60, 3), (total / 3, 4), (total - 1, 5)] as [(Int, UInt64)] {
          let order = EdgeRanking.random(upstream: ablation.pair.upstream.featureCount,
                                         downstream: ablation.pair.downstream.featureCount, seed: seed)
          var parents = ParentSets(upstream: ablation.pair.upstream.featureCount, downstream: ablation.pair.downstream.featureCount)
          for e in order.prefix(n) { parents.add(edge: e) }
          let expected = try ReferencePruning.magnitudes(ablation.pair, prompts: prompts, edges: Array(order.prefix(n)))
          for (forced, chunk) in [(false, 4096), (false, 7), (true, 4096)] {
            ablation.forcePerPrompt = forced
            ablation.chunkRows = chunk
            let got = ablation.prunedMagnitudes(parents)
            let diff = got.maxAbsDifference(expected)
            #expect(diff <= 1e-4 * Swift.max(1, expected.unary(.abs).max()),
                    "\(name) layer \(layer) N \(n) perPrompt \(forced): max difference \(diff)")
          }
          // Kept magnitudes at most k per position unless ties.
          if let k = ablation.pair.downstream.topK {
            let got = ablation.prunedMagnitudes(parents)
            let f = got.shape[2]
            let counts = (0..<(got.count / f)).map { r in (0..<f).filter { got.scalars[r * f + $0] != 0 }.count }
            #expect(counts.max()! <= k, "\(name): more than k kept")
          }
        }
      }
    }
  }

  /// FF layer: with every edge kept, the pruned pre-activations after TopK, rectified, are the unpruned
  /// magnitudes (TopK without ReLU only adds negative values where fewer than k are positive).
  @Test func allEdgesThroughPruningReproduceUnprunedFeedForwardLayer() throws {
    let model = try TestModels.ffLayer(seed: 34)
    let prompts = TestModels.tokens(rows: 2, length: 12, seed: 41)
    for layer in [0, 1] {
      let ablation = try Self.ablation(model, layer: layer, prompts: prompts)
      var parents = ParentSets(upstream: ablation.pair.upstream.featureCount, downstream: ablation.pair.downstream.featureCount)
      for e in 0..<Int32(ablation.totalEdges) { parents.add(edge: e) }
      let pruned = ablation.prunedMagnitudes(parents).unary(.relu)
      #expect(pruned.maxAbsDifference(ablation.unprunedMagnitudes) < 1e-5)
      #expect(ablation.unprunedMagnitudes.max() > 0)
    }
  }

  /// A sweep: points in order, N = every edge uses the unpruned circuit (KL vs circuit exactly 0), KLs
  /// non-negative and finite, shapes as documented.
  @Test func sweepInvariants() throws {
    let prompts = TestModels.tokens(rows: 2, length: 8, seed: 42)
    for (name, model) in try Self.models() {
      let ablation = try Self.ablation(model, layer: 1, prompts: prompts)
      let total = ablation.totalEdges
      let order = EdgeRanking.random(upstream: ablation.pair.upstream.featureCount,
                                     downstream: ablation.pair.downstream.featureCount, seed: 9)
      var points: [AblationPoint] = []
      try ablation.sweep(order: order, counts: [1, 5, total / 2, total]) { points.append($0) }
      #expect(points.map(\.edges) == [1, 5, total / 2, total], "\(name)")
      #expect(points.map(\.usedUnprunedMagnitudes) == [false, false, false, true])
      let last = try #require(points.last)
      #expect(last.klCircuit.max() == 0 && last.klCircuit.min() == 0, "\(name): KL vs circuit at N = all")
      #expect(last.magnitudes == ablation.unprunedMagnitudes)
      for p in points {
        #expect(p.klFullModel.shape == [2, 8] && p.klCircuit.shape == [2, 8])
        #expect(p.logits.shape == [2, 8, model.gpt.config.vocabSize])
        #expect(p.magnitudes.shape == [2, 8, ablation.pair.downstream.featureCount])
        #expect(p.klFullModel.isFinite && p.klFullModel.min() >= -1e-6 && p.klCircuit.min() >= -1e-6)
      }
      // With N < all the pruned circuit differs from the unpruned one somewhere.
      #expect(points[0].klCircuit.max() > 0, "\(name)")
      // KL vs the full model at N = all is the unpruned circuit's own KL.
      let own = KLDivergence.perPosition(reference: ablation.cleanLogits, other: ablation.unprunedLogits)
      #expect(last.klFullModel == own)
    }
  }

  /// Each point of a sweep keeps exactly the first N edges of the order: its magnitudes are the direct
  /// definition's with `order.prefix(N)` (and differ from N − 1 edges'). The order starts with an edge whose
  /// circuit alone is nonzero, so N = 1 is one downstream feature fed by one upstream feature, by hand.
  @Test func sweepPointsKeepExactlyTheFirstNEdges() throws {
    let prompts = TestModels.tokens(rows: 2, length: 8, seed: 43)
    for (name, model) in try Self.models() {
      let ablation = try Self.ablation(model, layer: 1, prompts: prompts)
      let fDown = ablation.pair.downstream.featureCount
      var order = EdgeRanking.random(upstream: ablation.pair.upstream.featureCount, downstream: fDown, seed: 12)
      // The first edge of the random order whose one-edge circuit is nonzero somewhere goes first.
      let lead = try #require(try order.prefix(200).first { e in
        try ReferencePruning.magnitudes(ablation.pair, prompts: prompts, edges: [e]).unary(.abs).max() > 0
      }, "\(name): no single edge gives a nonzero circuit")
      order.removeAll { $0 == lead }
      order.insert(lead, at: 0)
      let counts = [1, 2, 3, 7, 40]
      var points: [AblationPoint] = []
      try ablation.sweep(order: order, counts: counts) { points.append($0) }
      #expect(points.map(\.edges) == counts)
      for p in points {
        let expected = try ReferencePruning.magnitudes(ablation.pair, prompts: prompts, edges: Array(order.prefix(p.edges)))
        let diff = p.magnitudes.maxAbsDifference(expected)
        #expect(diff <= 1e-4 * Swift.max(1, expected.unary(.abs).max()), "\(name) N \(p.edges): differs from the first N edges by \(diff)")
        let fewer = try ReferencePruning.magnitudes(ablation.pair, prompts: prompts, edges: Array(order.prefix(p.edges - 1)))
        if fewer.maxAbsDifference(expected) > 1e-3 {
          #expect(p.magnitudes.maxAbsDifference(fewer) > 1e-4, "\(name) N \(p.edges): equals the first N − 1 edges")
        }
        #expect(!p.usedUnprunedMagnitudes)
      }
      // N = 1: only the lead edge's downstream feature can be nonzero, and it is.
      let j = Int(lead) % fDown
      let one = points[0].magnitudes.scalars
      let nonzero = Set(one.indices.filter { one[$0] != 0 }.map { $0 % fDown })
      #expect(nonzero == [j], "\(name): N = 1 gives features \(nonzero.sorted()), expected [\(j)]")
    }
  }

  @Test func sweepRejectsBadCountsAndOrders() throws {
    let model = try TestModels.ffLayer(seed: 35)
    let ablation = try Self.ablation(model, layer: 0, prompts: TestModels.tokens(rows: 1, length: 6, seed: 1))
    let order = EdgeRanking.random(upstream: 24, downstream: 20, seed: 1)
    for counts in [[5, 3], [0, 2], [ablation.totalEdges + 1], [2, 2]] {
      #expect(throws: ExperimentError.self) { try ablation.sweep(order: order, counts: counts) { _ in } }
    }
    #expect(throws: ExperimentError.self) { try ablation.sweep(order: Array(order.prefix(10)), counts: [1]) { _ in } }
  }

  @Test func keepTopKKeepsTiesAndNegatives() {
    var t = Tensor(shape: [2, 5], scalars: [3, -1, 2, 2, 0, -5, -4, -3, -2, -1])
    PairAblation.keepTopK(&t, k: 2)
    #expect(t.scalars == [3, 0, 2, 2, 0, 0, 0, 0, -2, -1])
  }
}

/// Edge ranking, counts and KL.
@Suite struct EdgeRankingTests {
  @Test func rankingOrdersPositiveZeroNegative() throws {
    let a = Tensor(shape: [2, 4], scalars: [0.5, 0, -1, 2, 0, 0.5, 0, -0.25])
    let r = try EdgeRanking.byAttribution(a, seed: 3)
    #expect(r.count == 8 && Set(r) == Set(0..<8))
    #expect(Array(r.prefix(3)) == [3, 0, 5])  // 2, then the tied 0.5s by lower index
    #expect(Set(r[3..<6]) == [1, 4, 6])        // zeros, shuffled
    #expect(Array(r.suffix(2)) == [7, 2])     // −0.25, −1
    #expect(try EdgeRanking.byAttribution(a, seed: 3) == r)
    // The zero order depends on the seed (some seed gives another order).
    let orders = Set(try (0..<20).map { try Array(EdgeRanking.byAttribution(a, seed: UInt64($0))[3..<6]) })
    #expect(orders.count > 1)
  }

  @Test func rankingRejectsNonFinite() {
    #expect(throws: ExperimentError.self) { try EdgeRanking.byAttribution(Tensor(shape: [1, 2], scalars: [1, .nan]), seed: 0) }
    #expect(throws: ExperimentError.self) { try EdgeRanking.byAttribution(Tensor([1, 2]), seed: 0) }
  }

  @Test func randomOrderIsASeededPermutation() {
    let a = EdgeRanking.random(upstream: 5, downstream: 7, seed: 125)
    #expect(a.count == 35 && Set(a) == Set(0..<35))
    #expect(a == EdgeRanking.random(upstream: 5, downstream: 7, seed: 125))
    #expect(a != EdgeRanking.random(upstream: 5, downstream: 7, seed: 126))
    #expect(a != Array(0..<35))
  }

  @Test func countsClampAndParse() throws {
    #expect(EdgeCounts.paper.count == 35 && EdgeCounts.paper.first == 1 && EdgeCounts.paper.last == 262_144)
    let r = try EdgeCounts.resolve([1, 4, 300, 256, 1000], total: 256)
    #expect(r.counts == [1, 4, 256] && r.clamped == [300, 1000])
    #expect(try EdgeCounts.parse("default") == EdgeCounts.paper)
    #expect(try EdgeCounts.parse("3, 1,2") == [3, 1, 2])
    for bad in ["", "1,,2", "0", "-3", "x", "default,1"] {
      #expect(throws: ExperimentError.self) { try EdgeCounts.parse(bad) }
    }
    #expect(throws: ExperimentError.self) { try EdgeCounts.resolve([0], total: 10) }
  }

  @Test func klMatchesDefinition() {
    let p = Tensor(shape: [2, 3], scalars: [1, 2, 3, 0, 0, 0])
    let q = Tensor(shape: [2, 3], scalars: [3, 2, 1, 0, 0, 5])
    let kl = KLDivergence.perPosition(reference: p, other: q)
    func softmax(_ v: [Double]) -> [Double] { let e = v.map { Foundation.exp($0 - v.max()!) }; return e.map { $0 / e.reduce(0, +) } }
    for r in 0..<2 {
      let pp = softmax((0..<3).map { Double(p[r, $0]) }), qq = softmax((0..<3).map { Double(q[r, $0]) })
      let expected = zip(pp, qq).map { $0 * Foundation.log(($0 + 1e-8) / ($1 + 1e-8)) }.reduce(0, +)
      #expect(Swift.abs(Double(kl[r]) - expected) < 1e-6)
    }
    #expect(KLDivergence.perPosition(reference: p, other: p).max() == 0)
  }
}
