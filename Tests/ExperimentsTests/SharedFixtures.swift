import Foundation
import Testing
import Training

/// The shared data beside the repository (`../shared`): reference fixtures and the tiny-shakespeare corpus.
/// Tests that need it are skipped with a stated reason when it is absent, except in CI (`CI=true`), where
/// they run and fail on the missing file.
enum SharedFixtures {
  static let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  static let root = repositoryRoot.appendingPathComponent("../shared").standardizedFileURL
  static let inCI = ProcessInfo.processInfo.environment["CI"] == "true"
  static let corpus = "data/tinyshakespeare/input.txt"
  static let reference = "fixtures/reference"

  static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }

  /// Enables a test when every path exists in the shared directory, or always in CI.
  static func needs(_ relatives: String...) -> ConditionTrait {
    let missing = relatives.filter { !FileManager.default.fileExists(atPath: url($0).path) }
    return .enabled(if: missing.isEmpty || inCI,
                    Comment(rawValue: "skipped: \(missing.map { url($0).path }.joined(separator: ", ")) absent (the shared data beside the repository)"))
  }

  /// The URL of `relative`; fails the test when it is absent.
  static func require(_ relative: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> URL {
    let u = url(relative)
    try #require(FileManager.default.fileExists(atPath: u.path), "missing shared data \(u.path)", sourceLocation: sourceLocation)
    return u
  }

  /// A reference checkpoint directory.
  static func checkpoint(_ name: String) throws -> URL { try require("\(reference)/checkpoints/\(name)") }

  /// The classic corpus prepared as in spec section 1, once per test process (in a temporary directory).
  static func preparedCorpus() throws -> URL {
    try PreparedCorpus.shared.directory()
  }
}

/// Prepares the corpus on first use into one fixed temporary directory shared by every test process
/// (prepared beside it and renamed into place, so concurrent processes never see a partial one); later
/// callers get the same directory.
final class PreparedCorpus: @unchecked Sendable {
  static let shared = PreparedCorpus()
  private let lock = NSLock()
  private var prepared: URL?

  func directory() throws -> URL {
    lock.lock()
    defer { lock.unlock() }
    if let prepared { return prepared }
    let input = try SharedFixtures.require(SharedFixtures.corpus)
    let fm = FileManager.default
    let size = (try? fm.attributesOfItem(atPath: input.path)[.size] as? Int) ?? 0
    let dir = fm.temporaryDirectory.appendingPathComponent("experiments-tests-shakespeare-\(size)")
    if !fm.fileExists(atPath: dir.appendingPathComponent("val_000000.npy").path) {
      let staging = fm.temporaryDirectory.appendingPathComponent("experiments-tests-staging-\(UUID().uuidString)")
      try fm.createDirectory(at: staging, withIntermediateDirectories: true)
      _ = try ShakespearePreparation.prepare(input: input, directory: staging)
      if rename(staging.path, dir.path) != 0 { try? fm.removeItem(at: staging) }  // another process won
    }
    prepared = dir
    return dir
  }
}
