import Foundation
import Tensor

/// A run's resume state: tensors (model weights, optimizer moments) and a JSON document, kept in
/// `<run>/resume/`. A new state is written to `resume.partial/` and then swapped in, so an interruption
/// never leaves a half-written state behind.
public struct ResumeStore {
  public let runDirectory: URL
  public init(runDirectory: URL) { self.runDirectory = runDirectory }

  public var directory: URL { runDirectory.appendingPathComponent("resume") }
  var partial: URL { runDirectory.appendingPathComponent("resume.partial") }
  var previous: URL { runDirectory.appendingPathComponent("resume.previous") }

  /// True when a complete resume state exists.
  public var exists: Bool {
    FileManager.default.fileExists(atPath: directory.appendingPathComponent("state.json").path)
      || FileManager.default.fileExists(atPath: previous.appendingPathComponent("state.json").path)
  }

  /// Writes `files` (name → safetensors content) and `state` (as state.json), then swaps them in. A tensor
  /// holding a NaN or an infinity is refused before anything is written; when a write fails (a full disk),
  /// the unfinished state is removed and the previous one stays in place.
  public func save<State: Encodable>(files: [String: SafeTensorsFile], state: State) throws {
    for name in files.keys.sorted() {
      if let bad = files[name]!.firstNonFinite {
        throw TrainingError("refusing to write a resume state with non-finite values into \(directory.path): \(name) \(bad); the previous resume state is kept")
      }
    }
    let fm = FileManager.default
    try? fm.removeItem(at: partial)
    do {
      try fm.createDirectory(at: partial, withIntermediateDirectories: true)
      for name in files.keys.sorted() { try SafeTensors.write(files[name]!, to: partial.appendingPathComponent(name)) }
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      try AtomicFile.write(try encoder.encode(state), to: partial.appendingPathComponent("state.json"))
    } catch {
      try? fm.removeItem(at: partial)
      throw TrainingError("cannot write the resume state of \(runDirectory.path) (the previous one is kept): \(error)")
    }
    try? fm.removeItem(at: previous)
    if fm.fileExists(atPath: directory.path) { try fm.moveItem(at: directory, to: previous) }
    try fm.moveItem(at: partial, to: directory)
    AtomicFile.syncDirectory(runDirectory.path)
    try? fm.removeItem(at: previous)
  }

  /// Reads the state and the named tensor files.
  public func load<State: Decodable>(_ type: State.Type, files: [String]) throws -> (State, [String: SafeTensorsFile]) {
    let fm = FileManager.default
    var dir = directory
    if !fm.fileExists(atPath: dir.appendingPathComponent("state.json").path) {
      guard fm.fileExists(atPath: previous.appendingPathComponent("state.json").path) else {
        throw TrainingError("no resume state in \(runDirectory.path) (expected \(directory.path)/state.json)")
      }
      dir = previous
    }
    let stateURL = dir.appendingPathComponent("state.json")
    let state: State
    do {
      state = try JSONDecoder().decode(State.self, from: Data(contentsOf: stateURL))
    } catch {
      throw TrainingError("corrupt resume state \(stateURL.path): \(error)")
    }
    var out: [String: SafeTensorsFile] = [:]
    for name in files { out[name] = try SafeTensors.read(contentsOf: dir.appendingPathComponent(name)) }
    return (state, out)
  }
}
