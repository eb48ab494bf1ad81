import Experiments
import Foundation
import GRDB
import SAE
import Tensor

/// A one-line error of the explorer (bad input, a missing or malformed index).
public struct ExplorerError: Error, CustomStringConvertible, Sendable {
  public var description: String
  public init(_ description: String) { self.description = description.onOneLine }
}

/// What an index records about how it was built (the `meta` table).
public struct FeatureIndexInfo: Codable, Sendable, Equatable {
  /// Schema version of the file.
  public var formatVersion: Int
  public var checkpoint: String
  public var dataDirectory: String
  public var split: String
  /// Tokens indexed.
  public var tokens: Int
  public var rowLength: Int
  public var settings: FeatureIndexSettings
  /// ISO 8601 time the index was written.
  public var created: String
  /// Seconds the computation took.
  public var seconds: Double

  public init(formatVersion: Int = FeatureIndexDatabase.formatVersion, checkpoint: String, dataDirectory: String, split: String,
              tokens: Int, rowLength: Int, settings: FeatureIndexSettings, created: String, seconds: Double) {
    self.formatVersion = formatVersion
    self.checkpoint = checkpoint
    self.dataDirectory = dataDirectory
    self.split = split
    self.tokens = tokens
    self.rowLength = rowLength
    self.settings = settings
    self.created = created
    self.seconds = seconds
  }
}

/// One SAE of an index: its key, size, dead features and mean L0 over the indexed tokens.
public struct IndexedSAE: Codable, Sendable, Equatable {
  public var key: String
  public var features: Int
  public var dead: Int
  public var l0: Double
}

/// A feature index in SQLite (through GRDB): tables `meta`, `saes`, `features` and `contexts`. Written once,
/// atomically (a temporary database beside the destination, renamed into place); read by the explorer.
public final class FeatureIndexDatabase: Sendable {
  /// The schema version this code reads and writes.
  public static let formatVersion = 1
  /// The index's default file name inside a checkpoint directory.
  public static let defaultFileName = "feature-index.sqlite"

  private let queue: DatabaseQueue
  public let url: URL
  /// How the index was built.
  public let info: FeatureIndexInfo
  /// Its SAEs in checkpoint order.
  public let saes: [IndexedSAE]

  /// Opens an index read-only; a missing file, another schema version or a malformed file is a one-line error.
  public init(url: URL) throws {
    guard FileManager.default.fileExists(atPath: url.path) else {
      throw ExplorerError("no feature index at \(url.path) (build it with index-features)")
    }
    self.url = url
    var configuration = Configuration()
    configuration.readonly = true
    do {
      queue = try DatabaseQueue(path: url.path, configuration: configuration)
      let (info, saes) = try queue.read { db -> (FeatureIndexInfo, [IndexedSAE]) in
        guard let text = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE name = 'info'") else {
          throw ExplorerError("\(url.path) has no index information")
        }
        let info = try JSONDecoder().decode(FeatureIndexInfo.self, from: Data(text.utf8))
        let saes = try Row.fetchAll(db, sql: "SELECT key, features, dead, l0 FROM saes ORDER BY ordinal").map {
          IndexedSAE(key: $0["key"], features: $0["features"], dead: $0["dead"], l0: $0["l0"])
        }
        return (info, saes)
      }
      guard info.formatVersion == Self.formatVersion else {
        throw ExplorerError("\(url.path) is a feature index of format \(info.formatVersion); this explorer reads format \(Self.formatVersion) (rebuild it with index-features)")
      }
      self.info = info
      self.saes = saes
    } catch let e as ExplorerError {
      throw e
    } catch {
      throw ExplorerError("cannot read the feature index \(url.path): \(error)")
    }
  }

  /// The summaries of every feature of SAE `key` without contexts and logit effects (nil for an unknown key).
  public func features(of key: String) throws -> [FeatureSummary]? {
    guard saes.contains(where: { $0.key == key }) else { return nil }
    return try read { db in
      try Row.fetchAll(db, sql: "SELECT * FROM features WHERE sae = ? ORDER BY feature", arguments: [key]).map {
        try Self.summary($0, contexts: [], withEffects: false)
      }
    }
  }

  /// The full summary of one feature (nil for an unknown key or index).
  public func feature(_ key: String, _ index: Int) throws -> FeatureSummary? {
    try read { db in
      guard let row = try Row.fetchOne(db, sql: "SELECT * FROM features WHERE sae = ? AND feature = ?", arguments: [key, index]) else {
        return nil
      }
      let contexts = try Row.fetchAll(
        db, sql: "SELECT * FROM contexts WHERE sae = ? AND feature = ? ORDER BY rank", arguments: [key, index]
      ).map { r in
        FeatureContext(magnitude: Float(r["magnitude"] as Double), position: r["position"],
                       tokens: try Self.decode([Int32].self, r["tokens"]), magnitudes: try Self.decode([Float].self, r["magnitudes"]),
                       focus: r["focus"])
      }
      return try Self.summary(row, contexts: contexts, withEffects: true)
    }
  }

  private func read<T>(_ body: (Database) throws -> T) throws -> T {
    do {
      return try queue.read(body)
    } catch let e as ExplorerError {
      throw e
    } catch {
      throw ExplorerError("cannot read the feature index \(url.path): \(error)")
    }
  }

  private static func summary(_ row: Row, contexts: [FeatureContext], withEffects: Bool) throws -> FeatureSummary {
    FeatureSummary(
      feature: row["feature"], activeCount: row["active_count"], frequency: row["frequency"],
      meanMagnitude: Float(row["mean_magnitude"] as Double), maxMagnitude: Float(row["max_magnitude"] as Double),
      histogramLower: Float(row["histogram_lower"] as Double), histogramUpper: Float(row["histogram_upper"] as Double),
      histogram: try decode([Int].self, row["histogram"]), contexts: contexts,
      promoted: withEffects ? try decode([TokenEffect].self, row["promoted"]) : [],
      suppressed: withEffects ? try decode([TokenEffect].self, row["suppressed"]) : [])
  }

  private static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
    do {
      return try JSONDecoder().decode(type, from: Data(text.utf8))
    } catch {
      throw ExplorerError("malformed column in the feature index: \(error)")
    }
  }

  private static func encode<T: Encodable>(_ value: T) throws -> String {
    String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
  }

  /// Writes an index to `url` atomically: a temporary database beside it (`.<name>.tmp-<pid>`), filled in one
  /// transaction, closed, flushed and renamed into place, then the directory flushed. On failure the temporary
  /// file is removed and a previous index stays as it was.
  public static func write(info: FeatureIndexInfo, keys: [SAEKey], summaries: [SAEKey: [FeatureSummary]], to url: URL) throws {
    let directory = url.deletingLastPathComponent()
    let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
    let fm = FileManager.default
    for suffix in ["", "-journal", "-wal", "-shm"] { try? fm.removeItem(atPath: temporary.path + suffix) }
    do {
      do {
        let queue = try DatabaseQueue(path: temporary.path)
        try queue.write { db in
          try db.execute(sql: """
            CREATE TABLE meta (name TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
            CREATE TABLE saes (key TEXT PRIMARY KEY NOT NULL, ordinal INTEGER NOT NULL, features INTEGER NOT NULL,
                               dead INTEGER NOT NULL, l0 REAL NOT NULL);
            CREATE TABLE features (sae TEXT NOT NULL, feature INTEGER NOT NULL, active_count INTEGER NOT NULL,
                                   frequency REAL NOT NULL, mean_magnitude REAL NOT NULL, max_magnitude REAL NOT NULL,
                                   histogram_lower REAL NOT NULL, histogram_upper REAL NOT NULL, histogram TEXT NOT NULL,
                                   promoted TEXT NOT NULL, suppressed TEXT NOT NULL, PRIMARY KEY (sae, feature));
            CREATE TABLE contexts (sae TEXT NOT NULL, feature INTEGER NOT NULL, rank INTEGER NOT NULL,
                                   position INTEGER NOT NULL, magnitude REAL NOT NULL, focus INTEGER NOT NULL,
                                   tokens TEXT NOT NULL, magnitudes TEXT NOT NULL, PRIMARY KEY (sae, feature, rank));
            """)
          try db.execute(sql: "INSERT INTO meta (name, value) VALUES ('info', ?)", arguments: [try encode(info)])
          let saeInsert = try db.makeStatement(sql: "INSERT INTO saes VALUES (?, ?, ?, ?, ?)")
          let featureInsert = try db.makeStatement(sql: "INSERT INTO features VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
          let contextInsert = try db.makeStatement(sql: "INSERT INTO contexts VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
          for (ordinal, key) in keys.enumerated() {
            guard let list = summaries[key] else { throw ExplorerError("no summaries for SAE \(key)") }
            let active = list.reduce(0) { $0 + $1.activeCount }
            try saeInsert.execute(arguments: [key.description, ordinal, list.count, list.filter(\.isDead).count,
                                              info.tokens == 0 ? 0 : Double(active) / Double(info.tokens)])
            for s in list {
              try featureInsert.execute(arguments: [
                key.description, s.feature, s.activeCount, s.frequency, Double(s.meanMagnitude), Double(s.maxMagnitude),
                Double(s.histogramLower), Double(s.histogramUpper), try encode(s.histogram), try encode(s.promoted),
                try encode(s.suppressed)])
              for (rank, c) in s.contexts.enumerated() {
                try contextInsert.execute(arguments: [
                  key.description, s.feature, rank, c.position, Double(c.magnitude), c.focus, try encode(c.tokens),
                  try encode(c.magnitudes)])
              }
            }
          }
        }
        try queue.close()
      }
      let fd = open(temporary.path, O_RDONLY)
      if fd >= 0 {
        fsync(fd)
        close(fd)
      }
      guard rename(temporary.path, url.path) == 0 else {
        throw ExplorerError("cannot move the index into place at \(url.path): \(String(cString: strerror(errno)))")
      }
      let dirfd = open(directory.path, O_RDONLY)
      if dirfd >= 0 {
        fsync(dirfd)
        close(dirfd)
      }
    } catch {
      for suffix in ["", "-journal", "-wal", "-shm"] { try? fm.removeItem(atPath: temporary.path + suffix) }
      if let e = error as? ExplorerError { throw e }
      throw ExplorerError("cannot write the feature index \(url.path): \(error)")
    }
  }
}
