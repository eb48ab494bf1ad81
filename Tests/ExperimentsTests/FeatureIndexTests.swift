import Autograd
import Foundation
import GPT
import SAE
import Tensor
import Testing
@testable import Experiments

/// The feature index against a naive computation from dense magnitudes (`GPT.activations` + `encode`), row by
/// row, on a small random model.
@Suite struct FeatureIndexTests {
  static func model(variant: SAEVariant = .topK) throws -> SparsifiedGPT {
    let gpt = try TestModels.gpt(seed: 11, layers: 2, embd: 8, block: 12, vocab: 20)
    let config = SAEConfig(nFeatures: [16, 16, 16], saeVariant: variant, topK: variant.isTopK ? [3, 3, 3] : nil,
                           saeKeys: (0..<3).map { SAEKey(layer: $0, hookPoint: .act) })
    let model = try TestModels.sparsified(gpt, config, seed: 5)
    // Feature 5 of every SAE can never fire: its encoder bias is far below any pre-activation.
    for (name, p) in model.namedParameters where name.hasSuffix("b_enc") {
      var b = p.value.scalars
      b[5] = -1000
      p.assign(Tensor(shape: p.shape, scalars: b))
    }
    return model
  }

  static func stream(_ count: Int, seed: UInt64) -> [Int32] {
    var g = RandomGenerator(seed: seed)
    return (0..<count).map { _ in Int32(g.nextInt(below: 20)) }
  }

  /// Dense magnitudes [tokens, F] of every SAE, computed row by row.
  static func naiveMagnitudes(_ model: SparsifiedGPT, stream: [Int32], rowLength: Int) throws -> [SAEKey: [[Float]]] {
    var out: [SAEKey: [[Float]]] = [:]
    var start = 0
    while start < stream.count {
      let row = Array(stream[start..<Swift.min(stream.count, start + rowLength)])
      let acts = try model.gpt.activations(IntTensor(shape: [1, row.count], scalars: row), at: model.keys)
      for key in model.keys {
        let f = model.saes[key]!.featureCount
        let dense = withNoGrad { model.saes[key]!.encode(Variable(acts[key]!)).value.scalars }
        for t in 0..<row.count { out[key, default: []].append(Array(dense[(t * f)..<((t + 1) * f)])) }
      }
      start += rowLength
    }
    return out
  }

  @Test(arguments: [SAEVariant.topK, .standard])
  func summariesMatchANaiveComputation(variant: SAEVariant) throws {
    let model = try Self.model(variant: variant)
    var settings = FeatureIndexSettings()
    settings.topContexts = 4
    settings.contextBefore = 3
    settings.contextAfter = 2
    settings.histogramBins = 5
    settings.logitTokens = 3
    let builder = FeatureIndexBuilder(model: model, settings: settings)
    let stream = Self.stream(12 * 7 + 5, seed: 3)  // 7 full rows of 12 and a row of 5
    var reported: [Int] = []
    try builder.add(stream: stream, rowLength: 12, batchRows: 3) { reported.append($0) }
    #expect(reported == [36, 72, 84, 89])
    #expect(builder.tokenCount == stream.count)
    let dense = try Self.naiveMagnitudes(model, stream: stream, rowLength: 12)
    var sawDead = false, sawContexts = false
    for key in model.keys {
      let summaries = try builder.summaries(for: key)
      let rows = dense[key]!
      let sae = model.saes[key]!
      let directions = FeatureIndexBuilder.decoderDirections(sae).scalars
      let wte = model.gpt.wte.weight.value.scalars
      #expect(summaries.count == sae.featureCount)
      for (j, s) in summaries.enumerated() {
        let active = rows.enumerated().filter { $0.element[j] != 0 }.map { (position: $0.offset, value: $0.element[j]) }
        #expect(s.feature == j)
        #expect(s.activeCount == active.count)
        #expect(s.isDead == active.isEmpty)
        #expect(abs(s.frequency - Double(active.count) / Double(stream.count)) < 1e-12)
        let maxValue = active.map(\.value).max() ?? 0
        #expect(abs(s.maxMagnitude - maxValue) <= 1e-5 * Swift.max(1, abs(maxValue)))
        let mean = active.isEmpty ? 0 : active.map { Double($0.value) }.reduce(0, +) / Double(active.count)
        #expect(abs(Double(s.meanMagnitude) - mean) <= 1e-5 * Swift.max(1, abs(mean)))
        // Histogram: every nonzero magnitude in one of 5 equal bins from min(0, smallest) to the largest.
        #expect(s.histogram.reduce(0, +) == active.count)
        var histogram = [Int](repeating: 0, count: 5)
        let lower = Swift.min(0, active.map(\.value).min() ?? 0)
        for a in active {
          let x = (Double(a.value) - Double(lower)) / (Double(s.histogramUpper) - Double(lower)) * 5
          histogram[Swift.min(4, Int(x.rounded(.down)))] += 1
        }
        #expect(s.histogram == histogram)
        // Top contexts: the 4 largest magnitudes (earlier position first on ties), windows within the row.
        let top = active.sorted { $0.value != $1.value ? $0.value > $1.value : $0.position < $1.position }.prefix(4)
        #expect(s.contexts.map(\.position) == top.map(\.position))
        for c in s.contexts {
          let rowStart = c.position / 12 * 12, rowEnd = Swift.min(stream.count, rowStart + 12)
          let lo = Swift.max(rowStart, c.position - 3), hi = Swift.min(rowEnd, c.position + 3)
          #expect(c.tokens == Array(stream[lo..<hi]))
          #expect(c.focus == c.position - lo)
          #expect(c.magnitudes.count == c.tokens.count)
          for (i, m) in c.magnitudes.enumerated() {
            #expect(abs(m - rows[lo + i][j]) <= 1e-5 * Swift.max(1, abs(m)))
          }
          #expect(c.magnitudes[c.focus] == c.magnitude)
          sawContexts = true
        }
        sawDead = sawDead || s.isDead
        if j == 5 { #expect(s.isDead && s.contexts.isEmpty && s.histogram.allSatisfy { $0 == 0 } && s.maxMagnitude == 0) }
        // Logit effects: direction_j · wte[v] for every token v, the 3 largest and the 3 smallest.
        let c = sae.embeddingSize
        var effects: [TokenEffect] = []
        for v in 0..<20 {
          var dot: Float = 0
          for q in 0..<c { dot += directions[j * c + q] * wte[v * c + q] }
          effects.append(TokenEffect(token: Int32(v), value: dot))
        }
        let promoted = Array(effects.sorted { $0.value > $1.value }.prefix(3))
        let suppressed = Array(effects.sorted { $0.value < $1.value }.prefix(3))
        #expect(s.promoted.map { $0.token } == promoted.map { $0.token })
        #expect(s.suppressed.map { $0.token } == suppressed.map { $0.token })
        for (a, b) in zip(s.promoted, promoted) { #expect(abs(a.value - b.value) <= 1e-4) }
      }
    }
    #expect(sawContexts)
    #expect(sawDead, "feature 5 never fires")
  }

  /// Decoder directions equal W_dec of a TopK SAE.
  @Test func decoderDirectionsAreTheDecoderRows() throws {
    let model = try Self.model()
    let sae = model.orderedSAEs[1]
    let form = try #require(sae.topKForm)
    let expected = form.decoderMatrix.scalars
    let got = FeatureIndexBuilder.decoderDirections(sae).scalars
    #expect(got.count == expected.count)
    for (a, b) in zip(got, expected) { #expect(abs(a - b) <= 1e-6) }
  }

  /// The bounded heap keeps the largest values with earlier positions on ties, whatever the order offered.
  @Test func boundedHeapKeepsTheTop() {
    var g = RandomGenerator(seed: 9)
    let items = (0..<200).map { (magnitude: Float(g.nextInt(below: 30)), position: $0) }
    var heap = BoundedTopContexts(capacity: 7)
    for i in items.shuffled(using: &g) { heap.offer(magnitude: i.magnitude, position: i.position) }
    let expected = items.sorted { $0.magnitude != $1.magnitude ? $0.magnitude > $1.magnitude : $0.position < $1.position }.prefix(7)
    #expect(heap.sorted().map(\.position) == expected.map(\.position))
  }

  @Test func badRowsAreOneLineErrors() throws {
    let builder = FeatureIndexBuilder(model: try Self.model())
    #expect(throws: ExperimentError.self) { try builder.add(stream: [1, 2, 3], rowLength: 13) }
    #expect(throws: ExperimentError.self) { try builder.add(stream: [1, 2, 3], rowLength: 0) }
    #expect(throws: ExperimentError.self) { try builder.add(IntTensor(shape: [3], scalars: [1, 2, 3])) }
  }
}
