import Autograd
import Foundation
import GPT
import SAE
import Tensor

/// How much a feature index keeps per feature.
public struct FeatureIndexSettings: Sendable, Equatable, Codable {
  /// Top activating contexts kept per feature.
  public var topContexts = 20
  /// Tokens shown before the maximum of a context (clipped to the start of its row).
  public var contextBefore = 24
  /// Tokens shown after the maximum of a context (clipped to the end of its row).
  public var contextAfter = 8
  /// Equal-width bins of the magnitude histogram, from 0 (or the smallest magnitude, when negative) to the maximum.
  public var histogramBins = 20
  /// Promoted and suppressed tokens kept of the logit effect.
  public var logitTokens = 10

  public init() {}
}

/// One token's weight in a feature's direct logit effect.
public struct TokenEffect: Sendable, Equatable, Codable {
  public var token: Int32
  public var value: Float

  public init(token: Int32, value: Float) {
    self.token = token
    self.value = value
  }
}

/// A top activating context of a feature: a window of the row around the token where the feature fired,
/// with the feature's magnitude at every token of the window.
public struct FeatureContext: Sendable, Equatable, Codable {
  /// The magnitude at the context's token (the window's maximum is at least this).
  public var magnitude: Float
  /// The token's index in the split (row · row length + offset).
  public var position: Int
  /// The window's tokens.
  public var tokens: [Int32]
  /// The feature's magnitude at each token of the window (0 where it did not fire).
  public var magnitudes: [Float]
  /// Index in `tokens` of the context's token.
  public var focus: Int

  public init(magnitude: Float, position: Int, tokens: [Int32], magnitudes: [Float], focus: Int) {
    self.magnitude = magnitude
    self.position = position
    self.tokens = tokens
    self.magnitudes = magnitudes
    self.focus = focus
  }
}

/// What a feature index records of one SAE feature over a token split.
public struct FeatureSummary: Sendable, Equatable, Codable {
  public var feature: Int
  /// Tokens on which the feature has a nonzero magnitude.
  public var activeCount: Int
  /// activeCount / tokens.
  public var frequency: Double
  /// Mean magnitude over the tokens where the feature fired (0 for a dead feature).
  public var meanMagnitude: Float
  /// Largest magnitude (0 for a dead feature).
  public var maxMagnitude: Float
  /// Lower and upper edge of the histogram's range.
  public var histogramLower: Float
  public var histogramUpper: Float
  /// Counts of the nonzero magnitudes in equal-width bins over [histogramLower, histogramUpper] (the last bin
  /// closed).
  public var histogram: [Int]
  /// The top contexts, largest magnitude first (equal magnitudes: earlier position first).
  public var contexts: [FeatureContext]
  /// Tokens the decoder direction promotes most through the unembedding, largest first.
  public var promoted: [TokenEffect]
  /// Tokens it suppresses most, most negative first.
  public var suppressed: [TokenEffect]

  public init(feature: Int, activeCount: Int, frequency: Double, meanMagnitude: Float, maxMagnitude: Float,
              histogramLower: Float, histogramUpper: Float, histogram: [Int], contexts: [FeatureContext],
              promoted: [TokenEffect], suppressed: [TokenEffect]) {
    self.feature = feature
    self.activeCount = activeCount
    self.frequency = frequency
    self.meanMagnitude = meanMagnitude
    self.maxMagnitude = maxMagnitude
    self.histogramLower = histogramLower
    self.histogramUpper = histogramUpper
    self.histogram = histogram
    self.contexts = contexts
    self.promoted = promoted
    self.suppressed = suppressed
  }

  /// True when the feature never fired on the split.
  public var isDead: Bool { activeCount == 0 }
}

/// Builds a feature index of a sparsified GPT: runs the model over rows of tokens (clean activations, nothing
/// patched, through `SparsifiedGPT.run`), keeps every SAE's sparse magnitudes, and summarises each feature
/// (`summaries(for:)`): activation frequency, mean and max magnitude, a histogram, the top contexts (a bounded
/// heap per feature) with the feature's magnitude at every token of each window, and the logit effect of its
/// decoder direction.
public final class FeatureIndexBuilder {
  public let model: SparsifiedGPT
  public let settings: FeatureIndexSettings
  /// Tokens seen, in order.
  public private(set) var tokens: [Int32] = []
  /// Start of each token's row in `tokens`, and the row's length.
  private var rowStart: [Int32] = []
  private var rowLength: [Int32] = []
  private var offsets: [SAEKey: [Int]] = [:]
  private var indices: [SAEKey: [Int32]] = [:]
  private var values: [SAEKey: [Float]] = [:]

  public init(model: SparsifiedGPT, settings: FeatureIndexSettings = FeatureIndexSettings()) {
    self.model = model
    self.settings = settings
    for key in model.keys {
      offsets[key] = [0]
      indices[key] = []
      values[key] = []
    }
  }

  /// Number of tokens seen.
  public var tokenCount: Int { tokens.count }

  /// Runs the model on rows [B, T] and records every SAE's magnitudes.
  public func add(_ batch: IntTensor) throws {
    guard batch.rank == 2 else { throw ExperimentError("token rows must be [B, T], got \(batch.shape)") }
    let outputs = try withNoGrad { try model.run(batch).outputs }
    let rows = batch.shape[0], length = batch.shape[1]
    let base = tokens.count
    for key in model.keys {
      guard let m = outputs[key]?.magnitudes else { throw ExperimentError("no output recorded for SAE \(key)") }
      guard m.rows == rows * length else { throw ExperimentError("SAE \(key) recorded \(m.rows) tokens, expected \(rows * length)") }
      let start = indices[key]!.count
      indices[key]!.append(contentsOf: m.indices)
      values[key]!.append(contentsOf: m.values)
      offsets[key]!.append(contentsOf: m.offsets.dropFirst().map { $0 + start })
    }
    tokens.append(contentsOf: batch.scalars)
    for r in 0..<rows {
      rowStart.append(contentsOf: repeatElement(Int32(base + r * length), count: length))
      rowLength.append(contentsOf: repeatElement(Int32(length), count: length))
    }
  }

  /// Feeds `stream` cut into consecutive rows of `rowLength` tokens (the last row shorter when they do not
  /// divide), `batchRows` rows per forward pass; `progress` receives the number of tokens done after each pass.
  public func add(stream: [Int32], rowLength: Int, batchRows: Int = 32, progress: (Int) -> Void = { _ in }) throws {
    guard rowLength > 0 && rowLength <= model.gpt.config.blockSize else {
      throw ExperimentError("the row length must be within 1...\(model.gpt.config.blockSize), got \(rowLength)")
    }
    guard batchRows > 0 else { throw ExperimentError("rows per pass must be positive, got \(batchRows)") }
    let full = stream.count / rowLength
    var row = 0
    while row < full {
      let n = Swift.min(batchRows, full - row)
      try add(IntTensor(shape: [n, rowLength], scalars: Array(stream[(row * rowLength)..<((row + n) * rowLength)])))
      row += n
      progress(row * rowLength)
    }
    if full * rowLength < stream.count {
      let rest = Array(stream[(full * rowLength)...])
      try add(IntTensor(shape: [1, rest.count], scalars: rest))
      progress(stream.count)
    }
  }

  /// The magnitude of `feature` of SAE `key` at token `position` (0 when it did not fire).
  public func magnitude(_ key: SAEKey, feature: Int, at position: Int) -> Float {
    guard let o = offsets[key], let idx = indices[key], let val = values[key] else { return 0 }
    for e in o[position]..<o[position + 1] where Int(idx[e]) == feature { return val[e] }
    return 0
  }

  /// Summaries of every feature of SAE `key`, in feature order.
  public func summaries(for key: SAEKey) throws -> [FeatureSummary] {
    guard let sae = model.saes[key], let idx = indices[key], let val = values[key] else {
      throw ExperimentError("the model has no SAE \(key)")
    }
    let f = sae.featureCount
    var count = [Int](repeating: 0, count: f)
    var sum = [Double](repeating: 0, count: f)
    var maxValue = [Float](repeating: -.infinity, count: f)
    var minValue = [Float](repeating: .infinity, count: f)
    var heaps = [BoundedTopContexts](repeating: BoundedTopContexts(capacity: settings.topContexts), count: f)
    let o = offsets[key]!
    for p in 0..<tokens.count {
      for e in o[p]..<o[p + 1] {
        let j = Int(idx[e]), v = val[e]
        count[j] += 1
        sum[j] += Double(v)
        maxValue[j] = Swift.max(maxValue[j], v)
        minValue[j] = Swift.min(minValue[j], v)
        heaps[j].offer(magnitude: v, position: p)
      }
    }
    let bins = settings.histogramBins
    var histograms = [[Int]](repeating: [Int](repeating: 0, count: bins), count: f)
    let lower = minValue.map { $0.isFinite ? Swift.min(0, $0) : 0 }
    let upper = maxValue.map { $0.isFinite ? $0 : 0 }
    for e in 0..<idx.count {
      let j = Int(idx[e])
      histograms[j][Self.bin(val[e], lower: lower[j], upper: upper[j], bins: bins)] += 1
    }
    let effects = try logitEffects(for: key)
    let total = tokens.count
    return (0..<f).map { j in
      FeatureSummary(
        feature: j, activeCount: count[j], frequency: total == 0 ? 0 : Double(count[j]) / Double(total),
        meanMagnitude: count[j] == 0 ? 0 : Float(sum[j] / Double(count[j])), maxMagnitude: upper[j],
        histogramLower: lower[j], histogramUpper: upper[j], histogram: histograms[j],
        contexts: heaps[j].sorted().map { context(key, feature: j, magnitude: $0.magnitude, position: $0.position) },
        promoted: effects[j].promoted, suppressed: effects[j].suppressed)
    }
  }

  /// The histogram bin of `v` over [lower, upper] in `bins` equal bins (the last one closed).
  static func bin(_ v: Float, lower: Float, upper: Float, bins: Int) -> Int {
    guard upper > lower else { return bins - 1 }
    let b = Int((Double(v - lower) / Double(upper - lower) * Double(bins)).rounded(.down))
    return Swift.min(bins - 1, Swift.max(0, b))
  }

  /// The window of the row around `position` with the feature's magnitude at every token.
  func context(_ key: SAEKey, feature: Int, magnitude: Float, position: Int) -> FeatureContext {
    let start = Int(rowStart[position]), end = start + Int(rowLength[position])
    let lo = Swift.max(start, position - settings.contextBefore), hi = Swift.min(end, position + settings.contextAfter + 1)
    return FeatureContext(magnitude: magnitude, position: position, tokens: Array(tokens[lo..<hi]),
                          magnitudes: (lo..<hi).map { self.magnitude(key, feature: feature, at: $0) }, focus: position - lo)
  }

  /// Each feature's decoder direction (`decode(e_j) − decode(0)`, the row W_dec[j] for the linear decoders of
  /// every variant) times the unembedding W_U = wte [V, C], the direct path to the logits that skips the final
  /// norm: the `logitTokens` largest values (promoted) and smallest (suppressed) per feature.
  public func logitEffects(for key: SAEKey) throws -> [(promoted: [TokenEffect], suppressed: [TokenEffect])] {
    guard let sae = model.saes[key] else { throw ExperimentError("the model has no SAE \(key)") }
    let directions = Self.decoderDirections(sae)  // [F, C]
    let effects = Tensor.matmul(directions, model.gpt.wte.weight.value, transposeB: true)  // [F, V]
    let v = effects.shape[1], n = Swift.min(settings.logitTokens, v)
    let s = effects.scalars
    return (0..<sae.featureCount).map { j in
      let row = (0..<v).map { TokenEffect(token: Int32($0), value: s[j * v + $0]) }
      let promoted = row.sorted { $0.value != $1.value ? $0.value > $1.value : $0.token < $1.token }
      let suppressed = row.sorted { $0.value != $1.value ? $0.value < $1.value : $0.token < $1.token }
      return (Array(promoted.prefix(n)), Array(suppressed.prefix(n)))
    }
  }

  /// Decoder directions [F, C]: decode(I_F) − decode(0).
  public static func decoderDirections(_ sae: any SparseAutoencoder) -> Tensor {
    let f = sae.featureCount, c = sae.embeddingSize
    var identity = Tensor(zeros: [f, f])
    let p = identity.unsafeMutablePointer()
    for j in 0..<f { p[j * f + j] = 1 }
    let (decoded, bias) = withNoGrad { (sae.decode(Variable(identity)).value, sae.decode(Variable(Tensor(zeros: [1, f]))).value) }
    let b = bias.scalars
    var d = decoded.scalars
    for j in 0..<f { for q in 0..<c { d[j * c + q] -= b[q] } }
    return Tensor(shape: [f, c], scalars: d)
  }
}

/// The `capacity` largest (magnitude, position) pairs offered, in a min-heap: larger magnitudes win, equal
/// magnitudes keep the earlier position.
struct BoundedTopContexts {
  let capacity: Int
  private(set) var heap: [(magnitude: Float, position: Int)] = []

  init(capacity: Int) { self.capacity = capacity }

  /// True when a ranks above b.
  static func above(_ a: (magnitude: Float, position: Int), _ b: (magnitude: Float, position: Int)) -> Bool {
    a.magnitude != b.magnitude ? a.magnitude > b.magnitude : a.position < b.position
  }

  mutating func offer(magnitude: Float, position: Int) {
    guard capacity > 0 else { return }
    let item = (magnitude: magnitude, position: position)
    if heap.count < capacity {
      heap.append(item)
      var i = heap.count - 1
      while i > 0 {
        let parent = (i - 1) / 2
        guard Self.above(heap[parent], heap[i]) else { break }
        heap.swapAt(parent, i)
        i = parent
      }
    } else if Self.above(item, heap[0]) {
      heap[0] = item
      var i = 0
      while true {
        let l = 2 * i + 1, r = l + 1
        var lowest = i
        if l < heap.count && Self.above(heap[lowest], heap[l]) { lowest = l }
        if r < heap.count && Self.above(heap[lowest], heap[r]) { lowest = r }
        if lowest == i { break }
        heap.swapAt(i, lowest)
        i = lowest
      }
    }
  }

  /// The kept pairs, best first.
  func sorted() -> [(magnitude: Float, position: Int)] { heap.sorted(by: Self.above) }
}
