import Foundation
import Tensor

/// Sequential batches of next-token windows from the token shards of one split (the reference's
/// `TrainingDataLoader` without random offsets).
///
/// A batch is the window `tokens[cursor ..< cursor + B·T + 1]` of the current shard: x = its first B·T tokens
/// as [B, T], y = the same shifted by one. After each batch the cursor advances by B·T·worldSize; when the
/// next such window would run past the shard's end, the loader moves to the next shard (wrapping to the
/// first) with the cursor at rank·B·T. Only the current shard is held in memory, loaded when first needed.
public struct TokenDataLoader {
  /// Where a loader is in its split: shard index and token offset of the next window. Save it to resume.
  public struct Position: Codable, Hashable, Sendable {
    /// Index into `shardURLs`.
    public var shard: Int
    /// Offset of the next window's first token in that shard.
    public var cursor: Int

    public init(shard: Int, cursor: Int) {
      self.shard = shard
      self.cursor = cursor
    }
  }

  public let directory: URL
  public let split: DataSplit
  /// B.
  public let batchSize: Int
  /// T.
  public let sequenceLength: Int
  /// This process's index among `worldSize` processes reading interleaved windows.
  public let rank: Int
  public let worldSize: Int
  /// The split's shard files, sorted by name.
  public let shardURLs: [URL]

  /// Where the next batch comes from.
  public private(set) var position: Position

  /// Tokens of shard `loadedShard`, if any is loaded.
  private var tokens: [Int32] = []
  private var loadedShard: Int?

  /// B·T.
  public var tokensPerBatch: Int { batchSize * sequenceLength }

  /// A loader over the `<split>_*.npy` shards of `directory`, positioned at the start (see `reset()`).
  public init(directory: URL, split: DataSplit, batchSize: Int, sequenceLength: Int,
              rank: Int = 0, worldSize: Int = 1) throws {
    guard batchSize > 0, sequenceLength > 0 else {
      throw DataError("batch size and sequence length must be positive, got B=\(batchSize), T=\(sequenceLength)")
    }
    guard worldSize > 0, (0..<worldSize).contains(rank) else {
      throw DataError("rank \(rank) is not in 0..<\(worldSize) (world size \(worldSize))")
    }
    let shards = try TokenShards.list(in: directory, split: split)
    guard !shards.isEmpty else {
      throw DataError("no shards for split '\(split.rawValue)' in \(directory.path) (expected files \(split.rawValue)_*.npy)")
    }
    self.directory = directory
    self.split = split
    self.batchSize = batchSize
    self.sequenceLength = sequenceLength
    self.rank = rank
    self.worldSize = worldSize
    self.shardURLs = shards
    self.position = Position(shard: 0, cursor: rank * batchSize * sequenceLength)
  }

  /// Back to the first shard, cursor rank·B·T.
  public mutating func reset() {
    position = Position(shard: 0, cursor: rank * tokensPerBatch)
  }

  /// Continues from a saved position (of a loader with the same shards and settings).
  public mutating func restore(_ saved: Position) throws {
    guard shardURLs.indices.contains(saved.shard) else {
      throw DataError("cannot restore position: shard \(saved.shard) does not exist (split '\(split.rawValue)' has \(shardURLs.count))")
    }
    guard saved.cursor >= 0 else { throw DataError("cannot restore position: negative cursor \(saved.cursor)") }
    position = saved
  }

  /// The next batch: x and y of shape [B, T], y = x shifted by one token.
  public mutating func nextBatch() throws -> (x: IntTensor, y: IntTensor) {
    try loadCurrentShard()
    let n = tokensPerBatch
    let cursor = position.cursor
    guard cursor + n + 1 <= tokens.count else {
      throw DataError("\(shardURLs[position.shard].path) holds \(tokens.count) tokens, too few for a batch of \(batchSize)×\(sequenceLength) from token \(cursor) (needs \(cursor + n + 1))")
    }
    let x = IntTensor(shape: [batchSize, sequenceLength], scalars: Array(tokens[cursor..<(cursor + n)]))  // [B, T]
    let y = IntTensor(shape: [batchSize, sequenceLength], scalars: Array(tokens[(cursor + 1)...(cursor + n)]))  // [B, T]
    advance()
    return (x, y)
  }

  /// The batches this loader yields before its windows repeat: one pass over every shard from the reset
  /// position (each shard is read once to count its tokens).
  public func batchesPerEpoch() throws -> Int {
    var probe = self
    probe.reset()
    let start = probe.position
    var count = 0
    repeat {
      try probe.skipBatch()
      count += 1
    } while probe.position != start
    return count
  }

  /// Moves past the next batch exactly as `nextBatch()` would, without copying its tokens.
  public mutating func skipBatch() throws {
    try loadCurrentShard()
    let n = tokensPerBatch
    guard position.cursor + n + 1 <= tokens.count else {
      throw DataError("\(shardURLs[position.shard].path) holds \(tokens.count) tokens, too few for a batch of \(batchSize)×\(sequenceLength) from token \(position.cursor) (needs \(position.cursor + n + 1))")
    }
    advance()
  }

  /// The cursor step after a batch, with the move to the next shard (the current shard is loaded).
  private mutating func advance() {
    let n = tokensPerBatch
    let stride = n * worldSize
    position.cursor += stride
    if position.cursor + stride + 1 > tokens.count {
      position = Position(shard: (position.shard + 1) % shardURLs.count, cursor: rank * n)
    }
    if loadedShard != position.shard && shardURLs.count > 1 {
      tokens = []
      loadedShard = nil
    }
  }

  /// Loads the current shard unless it is already in memory.
  private mutating func loadCurrentShard() throws {
    guard loadedShard != position.shard else { return }
    tokens = []
    loadedShard = nil
    tokens = try TokenShards.load(shardURLs[position.shard])
    loadedShard = position.shard
  }
}
