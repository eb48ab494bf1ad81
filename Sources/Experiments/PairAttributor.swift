import Foundation
import GPT
import SAE
import Tensor
import Training

/// Accumulates attributions between the SAE pairs of a sparsified model over batches of tokens.
public protocol PairAttributor: AnyObject {
  /// The pairs attributed, one attribution matrix each.
  var pairs: [CircuitPair] { get }
  /// Adds one batch of token sequences [B, T].
  func accumulate(_ tokens: IntTensor) throws
  /// The attribution matrices so far, [F_up, F_down] per pair, keyed by `CircuitPair.attributionKey`.
  func attributions() -> [String: Tensor]
  /// What one batch adds, computed but not added (bytes another process can `fold`): `fold(terms(x))` equals
  /// `accumulate(x)` bit for bit when both processes run as many threads.
  func terms(_ tokens: IntTensor) throws -> Data
  /// Adds one batch's `terms`; batches must be folded in the order `accumulate` would take them.
  func fold(_ terms: Data) throws
}

extension PairAttributor {
  /// Resets `loader` and feeds it `batches` batches (the reference resets before each layer, so every pair
  /// sees the same batches); `progress` is called after each batch with the number done (an error it throws stops the run).
  public func run(loader: inout TokenDataLoader, batches: Int, progress: ((Int) throws -> Void)? = nil) throws -> [String: Tensor] {
    guard batches > 0 else { throw ExperimentError("the number of batches must be positive, got \(batches)") }
    loader.reset()
    for b in 0..<batches {
      let (x, _) = try loader.nextBatch()
      try accumulate(x)
      try progress?(b + 1)
    }
    return attributions()
  }

  /// `run` spread over the ranks of `parallel`: batch b is computed by rank b mod N (each rank reads the
  /// split from the start and skips the others' batches), and rank 0 folds every batch's terms in batch order,
  /// so its result is the one process's (bit for bit, with as many threads per process). Returns the
  /// attributions on rank 0 and nil on the others. `progress` runs on every rank after each round of N
  /// batches; a stop it throws on any rank stops every rank after that round (the error is rethrown on each).
  public func run(loader: inout TokenDataLoader, batches: Int, parallel: DataParallel,
                  progress: ((Int) throws -> Void)? = nil) throws -> [String: Tensor]? {
    guard parallel.worldSize > 1 else { return try run(loader: &loader, batches: batches, progress: progress) }
    guard batches > 0 else { throw ExperimentError("the number of batches must be positive, got \(batches)") }
    let w = parallel.worldSize
    loader.reset()
    var round = 0
    while round < batches {
      var mine = Data()
      for i in 0..<w where round + i < batches {
        if i == parallel.rank {
          mine = try terms(loader.nextBatch().x)
        } else {
          try loader.skipBatch()
        }
      }
      // One byte ahead of the terms: whether this rank was asked to stop.
      var stop: Error?
      do { try progress?(Swift.min(round + w, batches)) } catch { stop = error }
      let all = try parallel.communicator.allgather(Data([stop == nil ? 0 : 1]) + mine)
      if let stop { throw stop }
      if let r = all.firstIndex(where: { $0.first != 0 }) {
        throw ExperimentError("rank \(r) stopped the attribution after batch \(Swift.min(round + w, batches)) of \(batches); nothing was written")
      }
      if parallel.isWriter {
        for i in 0..<w where round + i < batches { try fold(all[i].dropFirst()) }
      }
      round += w
    }
    return parallel.isWriter ? attributions() : nil
  }
}

/// Bytes of attribution terms: little-endian counts and arrays, each array after its length.
struct TermsWriter {
  var data = Data()
  mutating func append(_ n: Int) { withUnsafeBytes(of: Int64(n).littleEndian) { data.append(contentsOf: $0) } }
  mutating func append(_ v: [Int32]) { append(v.count); v.withUnsafeBytes { data.append(contentsOf: $0) } }
  mutating func append(_ v: [Float]) { append(v.count); v.withUnsafeBytes { data.append(contentsOf: $0) } }
  mutating func append(_ v: [Double]) { append(v.count); v.withUnsafeBytes { data.append(contentsOf: $0) } }
}

/// Reads what `TermsWriter` wrote; a short or malformed buffer is a one-line error.
struct TermsReader {
  let data: Data
  var offset = 0
  init(_ data: Data) { self.data = Data(data) }

  private mutating func bytes(_ n: Int) throws -> Data {
    guard n >= 0, offset + n <= data.count else { throw ExperimentError("attribution terms end early (\(data.count) bytes)") }
    defer { offset += n }
    return data.subdata(in: offset..<(offset + n))
  }
  mutating func int() throws -> Int {
    let d = try bytes(8)
    return Int(Int64(littleEndian: d.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }))
  }
  private mutating func array<T>(_ type: T.Type) throws -> [T] {
    let n = try int()
    guard n >= 0, n <= data.count else { throw ExperimentError("attribution terms hold a bad length \(n)") }
    let d = try bytes(n * MemoryLayout<T>.stride)
    return d.withUnsafeBytes { raw in (0..<n).map { raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.stride, as: T.self) } }
  }
  mutating func int32s() throws -> [Int32] { try array(Int32.self) }
  mutating func floats() throws -> [Float] { try array(Float.self) }
  mutating func doubles() throws -> [Double] { try array(Double.self) }
  func finish() throws {
    guard offset == data.count else { throw ExperimentError("attribution terms hold \(data.count - offset) unread bytes") }
  }
}

/// Freezes every parameter of a sparsified model, shared ones included.
func freezeParameters(_ model: SparsifiedGPT) {
  model.gpt.setRequiresGrad(false)
  for (_, p) in model.namedParameters { p.setRequiresGrad(false) }
}

/// Freezes the GPT's and the pairs' SAE parameters (attribution only differentiates inputs).
func freezeParameters(gpt: GPT, pairs: [CircuitPair]) {
  gpt.setRequiresGrad(false)
  for pair in pairs {
    for sae in [pair.upstream, pair.downstream] {
      sae.setRequiresGrad(false)
      for p in sae.parametersInUse { p.setRequiresGrad(false) }
    }
  }
}

/// The pairs of `model` at `layers` (default: every upstream layer with both SAEs); one-line errors for
/// layers without a pair.
func resolvePairs(_ model: SparsifiedGPT, layers: [Int]?) throws -> [CircuitPair] {
  let available = try CircuitPair.layers(of: model)
  let chosen = layers ?? available
  guard !chosen.isEmpty else { throw ExperimentError("no SAE pairs to attribute") }
  if Set(chosen).count != chosen.count { throw ExperimentError("duplicate layers in \(chosen)") }
  for l in chosen where !available.contains(l) {
    throw ExperimentError("layer \(l) has no SAE pair in this checkpoint (available: \(available.map(String.init).joined(separator: ", ")))")
  }
  return try chosen.map { try CircuitPair(model: model, layer: $0) }
}
