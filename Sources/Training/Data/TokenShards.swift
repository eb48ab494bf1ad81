import Foundation
import Tensor

/// Token shard files: one-dimensional `.npy` arrays of token ids named `<split>_NNNNNN.npy`.
public enum TokenShards {
  /// The file name of shard `index` of `split` ("train_000000.npy").
  public static func fileName(split: DataSplit, index: Int) -> String {
    let digits = String(index)
    return "\(split.rawValue)_\(String(repeating: "0", count: max(0, 6 - digits.count)))\(digits).npy"
  }

  /// The shards of `split` in `directory` (files `<split>_*.npy`), sorted by name (byte order).
  public static func list(in directory: URL, split: DataSplit) throws -> [URL] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory) else {
      throw DataError("data directory \(directory.path) does not exist")
    }
    guard isDirectory.boolValue else { throw DataError("data directory \(directory.path) is not a directory") }
    let names: [String]
    do {
      names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
    } catch {
      throw DataError("cannot list data directory \(directory.path) (\(error.localizedDescription))")
    }
    let prefix = split.rawValue + "_"
    return names
      .filter { $0.hasPrefix(prefix) && $0.hasSuffix(".npy") }
      .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
      .map { directory.appendingPathComponent($0) }
  }

  /// The token ids of a shard file (a 1-D uint16, int32 or int64 array).
  public static func load(_ url: URL) throws -> [Int32] {
    let array = try NPY.read(contentsOf: url)
    guard array.shape.count == 1 else {
      throw DataError("\(url.path): token shards are 1-D arrays, found shape \(array.shape)")
    }
    switch array.data {
    case .uint16(let values):
      return values.map { Int32($0) }
    case .int32(let values):
      if let bad = values.first(where: { $0 < 0 }) { throw DataError("\(url.path): negative token id \(bad)") }
      return values
    case .int64(let values):
      var out = [Int32]()
      out.reserveCapacity(values.count)
      for value in values {
        guard value >= 0 && value <= Int64(Int32.max) else {
          throw DataError("\(url.path): token id \(value) is out of range")
        }
        out.append(Int32(value))
      }
      return out
    case .float32:
      throw DataError("\(url.path): token shards hold integers, found dtype float32")
    }
  }

  /// The NumPy array for tokens of a vocabulary of `vocabularySize` ids: uint16 when V ≤ 65536, else int32.
  public static func array(_ tokens: [Int32], vocabularySize: Int) -> NPYArray {
    if vocabularySize <= 65536 {
      return NPYArray(shape: [tokens.count], data: .uint16(tokens.map { UInt16(truncatingIfNeeded: $0) }))
    }
    return NPYArray(shape: [tokens.count], data: .int32(tokens))
  }

  /// Writes `tokens` as shards of at most `shardTokens` tokens (at least one shard, even when empty), each
  /// atomically, and removes other `<split>_*.npy` files left in `directory` by earlier runs.
  /// Returns the file names written, in order.
  @discardableResult
  public static func write(_ tokens: [Int32], split: DataSplit, vocabularySize: Int, shardTokens: Int,
                           to directory: URL) throws -> [String] {
    precondition(shardTokens > 0, "shardTokens must be positive, got \(shardTokens)")
    if let bad = tokens.first(where: { $0 < 0 || Int($0) >= vocabularySize }) {
      throw DataError("token id \(bad) is outside the vocabulary of \(vocabularySize)")
    }
    var written: [String] = []
    var start = 0
    repeat {
      let end = start + min(shardTokens, tokens.count - start)
      let name = fileName(split: split, index: written.count)
      try NPY.write(array(Array(tokens[start..<end]), vocabularySize: vocabularySize),
                    to: directory.appendingPathComponent(name))
      written.append(name)
      start = end
    } while start < tokens.count
    for stale in try list(in: directory, split: split) where !written.contains(stale.lastPathComponent) {
      do {
        try FileManager.default.removeItem(at: stale)
      } catch {
        throw DataError("cannot remove stale shard \(stale.path) (\(error.localizedDescription))")
      }
    }
    return written
  }
}
