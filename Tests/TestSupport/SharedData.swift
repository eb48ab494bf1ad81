import Foundation
import Testing

/// The shared data beside the repository (`../shared` relative to the repository root: reference fixtures,
/// docs, the tiny-shakespeare corpus), for the test targets of every module. Tests that need it are skipped
/// with a stated reason when it is absent, except in CI (`CI=true`), where they run and fail on the missing
/// file instead.
public enum SharedData {
  /// The repository root, derived from this file's path (Tests/TestSupport/SharedData.swift).
  public static let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  /// `../shared` from the repository root.
  public static let root = repositoryRoot.appendingPathComponent("../shared").standardizedFileURL
  /// Whether the tests run in CI, where shared data must be present.
  public static let inCI = ProcessInfo.processInfo.environment["CI"] == "true"
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

  /// The classic corpus prepared by `prepare(input, directory)`, once per test process, into one fixed
  /// temporary directory shared by every test process (prepared beside it and renamed into place, so
  /// concurrent processes never see a partial one); later callers get the same directory.
  public static func preparedCorpus(_ prepare: (_ input: URL, _ directory: URL) throws -> Void) throws -> URL {
    try PreparedCorpus.shared.directory(prepare)
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
    let input = try SharedData.require(SharedData.corpus)
    let fm = FileManager.default
    let size = (try? fm.attributesOfItem(atPath: input.path)[.size] as? Int) ?? 0
    let dir = fm.temporaryDirectory.appendingPathComponent("gpt-circuits-tests-shakespeare-\(size)")
    if !fm.fileExists(atPath: dir.appendingPathComponent("val_000000.npy").path) {
      let staging = fm.temporaryDirectory.appendingPathComponent("gpt-circuits-tests-staging-\(UUID().uuidString)")
      try fm.createDirectory(at: staging, withIntermediateDirectories: true)
      try prepare(input, staging)
      if rename(staging.path, dir.path) != 0 { try? fm.removeItem(at: staging) }  // another process won
    }
    prepared = dir
    return dir
  }
}
