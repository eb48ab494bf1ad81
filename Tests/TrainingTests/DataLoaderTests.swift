import Foundation
import GPT
import Tensor
import Testing
import TestSupport
@testable import Training

/// A fresh temporary directory, removed by the caller.
func makeTemporaryDirectory(_ label: String = "data") throws -> URL {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url
}

@Suite struct DataLoaderTests {
  /// Writes a uint16 shard holding `values`.
  static func writeShard(_ values: [Int], _ name: String, in directory: URL) throws {
    try NPY.write(NPYArray(shape: [values.count], data: .uint16(values.map { UInt16($0) })),
                  to: directory.appendingPathComponent(name))
  }

  /// Two train shards (0..<100 and 1000..<1100) and one val shard.
  static func twoShardDirectory() throws -> URL {
    let directory = try makeTemporaryDirectory()
    try writeShard(Array(0..<100), "train_000000.npy", in: directory)
    try writeShard(Array(1000..<1100), "train_000001.npy", in: directory)
    try writeShard(Array(5000..<5050), "val_000000.npy", in: directory)
    return directory
  }

  @Test func batchIsWindowAndShiftedTargets() throws {
    let directory = try Self.twoShardDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    var loader = try TokenDataLoader(directory: directory, split: .train, batchSize: 2, sequenceLength: 4)
    let (x, y) = try loader.nextBatch()
    #expect(x.shape == [2, 4] && y.shape == [2, 4])
    #expect(x.scalars == [0, 1, 2, 3, 4, 5, 6, 7])
    #expect(y.scalars == [1, 2, 3, 4, 5, 6, 7, 8])
    let (x2, y2) = try loader.nextBatch()
    #expect(x2.scalars == Array(8..<16).map(Int32.init))
    #expect(y2.scalars == Array(9..<17).map(Int32.init))
    #expect(loader.position == .init(shard: 0, cursor: 16))
  }

  @Test func advancesToNextShardAndWraps() throws {
    let directory = try Self.twoShardDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    var loader = try TokenDataLoader(directory: directory, split: .train, batchSize: 2, sequenceLength: 4)
    // Windows start at 0, 8, …, 88 (88 + 8 + 1 ≤ 100); at 96 the next window would need 105 > 100 tokens.
    var firsts: [Int32] = []
    for _ in 0..<12 { firsts.append(try loader.nextBatch().x.scalars[0]) }
    #expect(firsts == stride(from: 0, through: 88, by: 8).map(Int32.init))
    #expect(loader.position == .init(shard: 1, cursor: 0))
    let onSecond = try loader.nextBatch()
    #expect(onSecond.x.scalars[0] == 1000 && onSecond.y.scalars.last == 1008)
    for _ in 0..<11 { _ = try loader.nextBatch() }
    #expect(loader.position == .init(shard: 0, cursor: 0))
    #expect(try loader.nextBatch().x.scalars[0] == 0)
  }

  @Test func resetReturnsToFirstShard() throws {
    let directory = try Self.twoShardDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    var loader = try TokenDataLoader(directory: directory, split: .train, batchSize: 1, sequenceLength: 10)
    let first = try loader.nextBatch()
    for _ in 0..<12 { _ = try loader.nextBatch() }
    #expect(loader.position.shard == 1)
    loader.reset()
    #expect(loader.position == .init(shard: 0, cursor: 0))
    let again = try loader.nextBatch()
    #expect(again.x == first.x && again.y == first.y)
  }

  @Test func rankAndWorldSizeInterleaveWindows() throws {
    let directory = try Self.twoShardDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    var rank0 = try TokenDataLoader(directory: directory, split: .train, batchSize: 2, sequenceLength: 4, rank: 0, worldSize: 2)
    var rank1 = try TokenDataLoader(directory: directory, split: .train, batchSize: 2, sequenceLength: 4, rank: 1, worldSize: 2)
    var starts0: [Int32] = [], starts1: [Int32] = []
    // Rank r reads windows at r·8 + 16·k while cursor + 16 + 1 stays within 100 tokens.
    for _ in 0..<7 {
      starts0.append(try rank0.nextBatch().x.scalars[0])
      starts1.append(try rank1.nextBatch().x.scalars[0])
    }
    // Rank 0 fits a window at 80 (80 + 17 ≤ 100); rank 1's next start, 88, does not (88 + 17 > 100).
    #expect(starts0 == [0, 16, 32, 48, 64, 80, 1000])
    #expect(starts1 == [8, 24, 40, 56, 72, 1008, 1024])
    rank1.reset()
    #expect(rank1.position == .init(shard: 0, cursor: 8))
    #expect(throws: DataError.self) {
      _ = try TokenDataLoader(directory: directory, split: .train, batchSize: 2, sequenceLength: 4, rank: 2, worldSize: 2)
    }
  }

  @Test func positionSavesAndRestores() throws {
    let directory = try Self.twoShardDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    var original = try TokenDataLoader(directory: directory, split: .train, batchSize: 3, sequenceLength: 5)
    for _ in 0..<7 { _ = try original.nextBatch() }
    let saved = try JSONEncoder().encode(original.position)
    #expect(String(decoding: saved, as: UTF8.self).contains("\"shard\":1"))
    var resumed = try TokenDataLoader(directory: directory, split: .train, batchSize: 3, sequenceLength: 5)
    try resumed.restore(try JSONDecoder().decode(TokenDataLoader.Position.self, from: saved))
    for _ in 0..<10 {
      let a = try original.nextBatch(), b = try resumed.nextBatch()
      #expect(a.x == b.x && a.y == b.y)
    }
    #expect(throws: DataError.self) { try resumed.restore(.init(shard: 2, cursor: 0)) }
    #expect(throws: DataError.self) { try resumed.restore(.init(shard: 0, cursor: -1)) }
  }

  @Test func shardsAreSortedByNameAndFilteredBySplit() throws {
    let directory = try makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    try Self.writeShard(Array(200..<220), "train_000010.npy", in: directory)
    try Self.writeShard(Array(100..<120), "train_000002.npy", in: directory)
    try Self.writeShard(Array(0..<20), "val_000000.npy", in: directory)
    try Data("not a shard".utf8).write(to: directory.appendingPathComponent("train_notes.txt"))
    let loader = try TokenDataLoader(directory: directory, split: .train, batchSize: 1, sequenceLength: 4)
    #expect(loader.shardURLs.map(\.lastPathComponent) == ["train_000002.npy", "train_000010.npy"])
    var val = try TokenDataLoader(directory: directory, split: .val, batchSize: 1, sequenceLength: 4)
    #expect(val.shardURLs.count == 1)
    #expect(try val.nextBatch().x.scalars == [0, 1, 2, 3])
  }

  @Test func readsInt32AndInt64Shards() throws {
    let directory = try makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    try NPY.write(NPYArray(shape: [10], data: .int32((0..<10).map { Int32($0) + 70_000 })),
                  to: directory.appendingPathComponent("train_000000.npy"))
    try NPY.write(NPYArray(shape: [10], data: .int64((0..<10).map { Int64($0) + 50_000 })),
                  to: directory.appendingPathComponent("train_000001.npy"))
    var loader = try TokenDataLoader(directory: directory, split: .train, batchSize: 1, sequenceLength: 8)
    #expect(try loader.nextBatch().x.scalars.first == 70_000)
    #expect(try loader.nextBatch().y.scalars.last == 50_008)
  }

  @Test func errorsAreOneLineAndNameTheProblem() throws {
    let directory = try makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    func message(_ body: () throws -> Void) -> String {
      do { try body() } catch { return String(describing: error) }
      return "no error"
    }
    let missing = directory.appendingPathComponent("absent")
    let noDirectory = message { _ = try TokenDataLoader(directory: missing, split: .train, batchSize: 1, sequenceLength: 4) }
    #expect(noDirectory.contains("does not exist") && noDirectory.contains("absent"))
    let noShards = message { _ = try TokenDataLoader(directory: directory, split: .val, batchSize: 1, sequenceLength: 4) }
    #expect(noShards.contains("no shards") && noShards.contains("val_*.npy"))

    try Self.writeShard(Array(0..<20), "train_000000.npy", in: directory)
    var short = try TokenDataLoader(directory: directory, split: .train, batchSize: 4, sequenceLength: 5)
    let tooShort = message { _ = try short.nextBatch() }
    #expect(tooShort.contains("train_000000.npy") && tooShort.contains("20 tokens"))

    // A corrupt second shard fails only when the loader reaches it (shards load lazily).
    try Data("garbage".utf8).write(to: directory.appendingPathComponent("train_000001.npy"))
    var lazy = try TokenDataLoader(directory: directory, split: .train, batchSize: 1, sequenceLength: 10)
    _ = try lazy.nextBatch()
    #expect(lazy.position == .init(shard: 1, cursor: 0))
    let corrupt = message { _ = try lazy.nextBatch() }
    #expect(corrupt.contains("train_000001.npy") && corrupt.contains("npy"))

    try NPY.write(NPYArray(shape: [20], data: .float32(Array(repeating: 1, count: 20))),
                  to: directory.appendingPathComponent("val_000000.npy"))
    var floats = try TokenDataLoader(directory: directory, split: .val, batchSize: 1, sequenceLength: 4)
    let wrongType = message { _ = try floats.nextBatch() }
    #expect(wrongType.contains("float32"))
    for text in [noDirectory, noShards, tooShort, corrupt, wrongType] { #expect(!text.contains("\n")) }
  }

  // MARK: The classic corpus

  /// Skipped when the shared corpus is absent, except in CI, where its absence is a failure.
  @Test(SharedData.needs(SharedData.corpus))
  func classicValSplitHoldsSixWindows() throws {
    let classicCorpus = try SharedData.require(SharedData.corpus)
    let directory = try makeTemporaryDirectory("shakespeare")
    defer { try? FileManager.default.removeItem(at: directory) }
    let summary = try ShakespearePreparation.prepare(input: classicCorpus, directory: directory)
    #expect(summary.characters == 1_115_394)
    #expect(summary.trainTokens == 1_003_776 && summary.valTokens == 111_618)
    #expect(summary.shards == ["train_000000.npy", "val_000000.npy"])
    let valBytes = try Data(contentsOf: directory.appendingPathComponent("val_000000.npy"))
    #expect(valBytes.count == 128 + 2 * 111_618)

    var loader = try TokenDataLoader(directory: directory, split: .val, batchSize: 128, sequenceLength: 128)
    var cursors: [Int] = []
    var first: IntTensor?
    for _ in 0..<6 {
      cursors.append(loader.position.cursor)
      let batch = try loader.nextBatch()
      if first == nil { first = batch.x }
    }
    #expect(cursors == [0, 16384, 32768, 49152, 65536, 81920])
    #expect(loader.position == .init(shard: 0, cursor: 0))
    #expect(try loader.nextBatch().x == first)
  }
}
