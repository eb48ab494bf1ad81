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
    try decode(type, files: files, from: rawFiles(files))
  }

  /// Reads the state on rank 0 of `parallel` and hands its bytes to every rank (`DataParallel.fromWriter`),
  /// so the other ranks need no access to the run directory.
  public func load<State: Decodable>(_ type: State.Type, files: [String], parallel: DataParallel) throws -> (State, [String: SafeTensorsFile]) {
    try decode(type, files: files, from: parallel.fromWriter { try rawFiles(files) })
  }

  /// The bytes of state.json (key "state.json") and of the named files, from `resume/` or, after an
  /// interrupted swap, `resume.previous/`.
  func rawFiles(_ files: [String]) throws -> [String: Data] {
    let fm = FileManager.default
    var dir = directory
    if !fm.fileExists(atPath: dir.appendingPathComponent("state.json").path) {
      guard fm.fileExists(atPath: previous.appendingPathComponent("state.json").path) else {
        throw TrainingError("no resume state in \(runDirectory.path) (expected \(directory.path)/state.json)")
      }
      dir = previous
    }
    var out: [String: Data] = [:]
    for name in ["state.json"] + files {
      let url = dir.appendingPathComponent(name)
      if name == "state.json" {
        do { out[name] = try Data(contentsOf: url) } catch { throw TrainingError("corrupt resume state \(url.path): \(error)") }
      } else {
        out[name] = try AtomicFile.read(url)
      }
    }
    return out
  }

  private func decode<State: Decodable>(_ type: State.Type, files: [String], from raw: [String: Data]) throws -> (State, [String: SafeTensorsFile]) {
    let stateURL = directory.appendingPathComponent("state.json")  // (or resume.previous/'s; named as the state's place)
    let state: State
    do {
      state = try JSONDecoder().decode(State.self, from: raw["state.json"] ?? Data())
    } catch {
      throw TrainingError("corrupt resume state \(stateURL.path): \(error)")
    }
    var out: [String: SafeTensorsFile] = [:]
    for name in files {
      out[name] = try SafeTensors.decode(raw[name] ?? Data(), source: directory.appendingPathComponent(name).path)
    }
    return (state, out)
  }
}
