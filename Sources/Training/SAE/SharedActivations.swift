import Foundation
import GPT
import SAE
import Tensor

/// Clean activations of one frozen GPT, computed once per batch of tokens and reused:
/// - by the trainers of an `SAETrainingGroup` that read the same batch (the latest `capacity` batches are
///   kept), and
/// - across epochs, when `retainedBytes` > 0: the data loader reads the same windows in every epoch, so the
///   batches first seen are kept, while they fit in `retainedBytes`, and served when they come round again.
///
/// The values are those of the same forward pass on the same tokens (a batch is matched by its tokens, not by
/// its position), so runs with and without reuse equal each other bit for bit.
public final class SharedActivations {
  public let gpt: GPT
  /// Every key recorded per batch.
  public let keys: [SAEKey]
  /// Latest batches kept (one per micro-batch of an optimisation step).
  public let capacity: Int
  /// Bytes of activations (and their tokens) kept for later epochs; 0 keeps none beyond the latest batches.
  public let retainedBytes: Int
  /// At most this many batches are kept for later epochs (`reusableBatches`: keeping a batch that is never
  /// read again only costs memory, and fresh memory is slow to touch on some virtual machines).
  public var retainedBatchLimit = Int.max
  /// Batches kept for later epochs now.
  public private(set) var heldBatches = 0
  private var entries: [(tokens: IntTensor, values: [SAEKey: Tensor])] = []
  private var retained: [Int: [(tokens: IntTensor, values: [SAEKey: Tensor])]] = [:]
  /// Bytes held for later epochs now.
  public private(set) var heldBytes = 0
  /// Batches served from the kept ones and batches computed.
  public private(set) var hits = 0, misses = 0

  /// A cache over `gpt` recording `keys` (duplicates are dropped), keeping the latest `capacity` batches and
  /// up to `retainedBytes` of first-seen batches for later epochs.
  public init(gpt: GPT, keys: [SAEKey], capacity: Int = 1, retainedBytes: Int = 0) {
    self.gpt = gpt
    var unique: [SAEKey] = []
    for key in keys where !unique.contains(key) { unique.append(key) }
    self.keys = unique
    self.capacity = Swift.max(1, capacity)
    self.retainedBytes = Swift.max(0, retainedBytes)
  }

  /// The clean activations of `tokens` at `wanted` (each must be among `keys`).
  public func activations(_ tokens: IntTensor, keys wanted: [SAEKey]) throws -> [SAEKey: Tensor] {
    if let missing = wanted.first(where: { !keys.contains($0) }) {
      throw TrainingError("activation key \(missing) is not recorded by the shared GPT forward (keys \(keys.map(\.description)))")
    }
    let values: [SAEKey: Tensor]
    if let hit = entries.last(where: { $0.tokens == tokens }) {
      hits += 1
      values = hit.values
    } else if retainedBytes > 0, let hit = retained[Self.hash(tokens)]?.first(where: { $0.tokens == tokens }) {
      hits += 1
      values = hit.values
      remember(tokens, values)
    } else {
      misses += 1
      values = try gpt.activations(tokens, at: keys)
      remember(tokens, values)
      retain(tokens, values)
    }
    var out: [SAEKey: Tensor] = [:]
    for key in wanted { out[key] = values[key] }
    return out
  }

  private func remember(_ tokens: IntTensor, _ values: [SAEKey: Tensor]) {
    entries.append((tokens, values))
    if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
  }

  /// Keeps a newly computed batch for later epochs while it fits.
  private func retain(_ tokens: IntTensor, _ values: [SAEKey: Tensor]) {
    guard retainedBytes > 0, heldBatches < retainedBatchLimit else { return }
    let bytes = tokens.scalars.count * MemoryLayout<Int32>.size + values.values.reduce(0) { $0 + $1.count * MemoryLayout<Float>.size }
    guard heldBytes + bytes <= retainedBytes else { return }
    retained[Self.hash(tokens), default: []].append((tokens, values))
    heldBytes += bytes
    heldBatches += 1
  }

  /// The batches worth keeping when `reads` batches are read from a loader whose windows repeat every `epoch`
  /// batches: the first min(epoch, reads − epoch) are read again, the rest only once.
  public static func reusableBatches(epoch: Int, reads: Int) -> Int { max(0, min(epoch, reads - epoch)) }

  /// `retainedBatchLimit` for runs that read `reads` training batches each from a loader whose windows repeat
  /// every `epoch` batches, and `evalSteps` val batches at every evaluation:
  /// - runs in lock-step (one run, or a group), the batches the longest run reads again (`reusableBatches`);
  /// - runs one after another, each from the start of the data (a sweep), every first-epoch batch a run reads,
  ///   since a later run reads it again (with a single run left, as in lock-step);
  /// plus the evaluation's val batches.
  public static func batchLimit(epoch: Int, reads: [Int], oneAfterAnother: Bool = false, evalSteps: Int) -> Int {
    let longest = reads.max() ?? 0
    let training = oneAfterAnother && reads.count > 1 ? min(epoch, longest) : reusableBatches(epoch: epoch, reads: longest)
    return training + evalSteps
  }

  private static func hash(_ tokens: IntTensor) -> Int {
    var h = Hasher()
    h.combine(tokens.shape)
    tokens.scalars.withUnsafeBytes { h.combine(bytes: $0) }
    return h.finalize()
  }
}
