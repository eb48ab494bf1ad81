import Foundation
import Testing

/// The shared data beside the repository (`../shared` relative to the repository root: reference fixtures,
/// docs, the tiny-shakespeare corpus), for the test targets of every module. Tests that need it are skipped
/// with a stated reason when it is absent, except in CI (`CI` set to a truthy value: `true`, `1`, `yes`, `on`,
/// any case), where they run and fail on the missing file instead.
public enum SharedData {
  /// The repository root, derived from this file's path (Tests/TestSupport/SharedData.swift).
  public static let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  /// `../shared` from the repository root.
  public static let root = repositoryRoot.appendingPathComponent("../shared").standardizedFileURL
  /// Whether the tests run in CI, where shared data and other prerequisites must be present.
  public static let inCI = isTruthy(ProcessInfo.processInfo.environment["CI"])

  /// Whether an environment value means "on" as CI systems set it: `true`, `1`, `yes` or `on`, in any case,
  /// surrounding spaces ignored. Unset, empty, `false`, `0`, `no`, `off` and anything else mean "off".
  public static func isTruthy(_ value: String?) -> Bool {
    guard let v = value?.trimmingCharacters(in: .whitespaces).lowercased() else { return false }
    return ["true", "1", "yes", "on"].contains(v)
  }

  /// Enables a test when `available`, or always in CI (where the test must then fail on what is missing).
  public static func required(_ available: Bool, _ reason: String) -> ConditionTrait {
    .enabled(if: available || inCI, Comment(rawValue: "skipped: \(reason)"))
  }
  /// The classic tiny-shakespeare corpus.
  public static let corpus = "data/tinyshakespeare/input.txt"
  /// The reference-written fixtures (checkpoints, goldens).
  public static let reference = "fixtures/reference"

  /// `relative` inside the shared directory.
  public static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }

  /// Enables a test when every path exists in the shared directory, or always in CI.
  public static func needs(_ relatives: String...) -> ConditionTrait {
    let missing = relatives.filter { !FileManager.default.fileExists(atPath: url($0).path) }
    return .enabled(if: missing.isEmpty || inCI,
                    Comment(rawValue: "skipped: \(missing.map { url($0).path }.joined(separator: ", ")) absent (the shared data beside the repository)"))
  }

  /// The URL of `relative`; records a failure and throws when it is absent (only reached in CI or when present).
  public static func require(_ relative: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> URL {
    let u = url(relative)
    try #require(FileManager.default.fileExists(atPath: u.path), "missing shared data \(u.path)", sourceLocation: sourceLocation)
    return u
  }

  /// A reference-written checkpoint directory.
  public static func checkpoint(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> URL {
    try require("\(reference)/checkpoints/\(name)", sourceLocation: sourceLocation)
  }

  /// The classic corpus prepared by `prepare(input, directory)`, once per test process. The preparation runs
  /// in every process (it takes a fraction of a second) into a staging directory; the result is kept in a
  /// temporary directory named by a hash of the prepared files, so the path changes whenever the input or
  /// the preparation changes what is prepared, and checkouts or processes that prepare the same bytes share
  /// one directory (renamed into place whole, so no process sees a partial one).
  public static func preparedCorpus(_ prepare: (_ input: URL, _ directory: URL) throws -> Void) throws -> URL {
    try PreparedCorpus.shared.directory(prepare)
  }

  /// `input` prepared by `prepare` into a temporary directory named by the hash of what it prepared (see
  /// `preparedCorpus`); an existing directory of that name is reused.
  public static func preparedDirectory(input: URL, _ prepare: (_ input: URL, _ directory: URL) throws -> Void) throws -> URL {
    let fm = FileManager.default
    let staging = fm.temporaryDirectory.appendingPathComponent("gpt-circuits-tests-staging-\(UUID().uuidString)")
    try fm.createDirectory(at: staging, withIntermediateDirectories: true)
    do {
      try prepare(input, staging)
    } catch {
      try? fm.removeItem(at: staging)
      throw error
    }
    let dir = fm.temporaryDirectory.appendingPathComponent("gpt-circuits-tests-corpus-\(try contentHash(of: staging))", isDirectory: true)
    // An existing directory of that name holds the same bytes (renamed into place whole by an earlier process).
    if fm.fileExists(atPath: dir.path) || rename(staging.path, dir.path) != 0 { try? fm.removeItem(at: staging) }
    return dir
  }

  /// A hex FNV-1a 64 hash of the names and bytes of the regular files in `directory` (sorted by name).
  public static func contentHash(of directory: URL) throws -> String {
    let fm = FileManager.default
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    func mix<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
      for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
    }
    for name in try fm.contentsOfDirectory(atPath: directory.path).sorted() {
      let data = try Data(contentsOf: directory.appendingPathComponent(name))
      mix(Array(name.utf8))
      mix([0])
      data.withUnsafeBytes { mix($0) }
      mix([0])
    }
    return String(h, radix: 16)
  }
}

/// The one prepared corpus directory of this test process.
final class PreparedCorpus: @unchecked Sendable {
  static let shared = PreparedCorpus()
  private let lock = NSLock()
  private var prepared: URL?

  func directory(_ prepare: (URL, URL) throws -> Void) throws -> URL {
    lock.lock()
    defer { lock.unlock() }
    if let prepared { return prepared }
    let dir = try SharedData.preparedDirectory(input: try SharedData.require(SharedData.corpus), prepare)
    prepared = dir
    return dir
  }
}
