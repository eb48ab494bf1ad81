import Autograd
import Foundation
import GPT
import Tensor

/// Reads and writes the SAE files of a checkpoint directory as the reference does: `sae.json`,
/// `sae.{idx}.safetensors` per SAE (its own parameters, no metadata) and `sae.shared.{g}.safetensors` per
/// staircase group (W_enc, W_dec), beside the GPT's `model.json` / `model.safetensors`. An SAE's file holds
/// its `checkpointParameters` (JumpReLU staircase members and multilayer SAEs: also the shared tensors, so
/// when several files carry them the one loaded last — the highest index — wins, as in the reference).
public enum SAECheckpoint {
  public static func saeFile(_ index: Int) -> String { "sae.\(index).safetensors" }
  public static func sharedFile(_ group: Int) -> String { "sae.shared.\(group).safetensors" }

  /// Writes sae.json, the files of the SAEs at `indices` (default: all) and the shared files of groups
  /// whose writer is among them. Every file is written atomically; weights holding a NaN or an infinity are
  /// refused (naming the SAE) before anything is written.
  public static func save(_ set: SAESet, config: SAEConfig, to directory: URL, indices: [Int]? = nil) throws {
    let chosen = Set(indices ?? Array(set.saes.indices))
    var files: [(name: String, what: String, file: SafeTensorsFile)] = []
    for i in chosen.sorted() {
      var tensors: [String: Tensor] = [:]
      for (name, p) in set.saes[i].checkpointParameters { tensors[name] = p.value }
      files.append((saeFile(i), "SAE \(set.saes[i].key)", SafeTensorsFile(tensors: tensors)))
    }
    for shared in set.groups where chosen.contains(set.groupWriters[shared.group] ?? -1) {
      var tensors: [String: Tensor] = [:]
      for (name, p) in shared.namedParameters { tensors[name] = p.value }
      files.append((sharedFile(shared.group), "the shared weights of group \(shared.group)", SafeTensorsFile(tensors: tensors)))
    }
    for f in files {
      if let bad = f.file.firstNonFinite {
        throw SAEError("refusing to write a checkpoint with non-finite weights of \(f.what) into \(directory.path): \(bad); the previous checkpoint is kept")
      }
    }
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    try AtomicFile.write(config.jsonData(), to: directory.appendingPathComponent("sae.json"))
    for f in files { try SafeTensors.write(f.file, to: directory.appendingPathComponent(f.name)) }
  }

  /// Loads the parameters of every SAE and group from `directory` into `set` (strict names and shapes).
  public static func load(into set: SAESet, from directory: URL) throws {
    for (i, sae) in set.saes.enumerated() {
      try loadModule(ParameterList(sae.checkpointParameters), from: directory.appendingPathComponent(saeFile(i)),
                     what: "SAE \(sae.key)")
    }
    for shared in set.groups {
      var url = directory.appendingPathComponent(sharedFile(shared.group))
      let legacy = directory.appendingPathComponent("sae.shared.safetensors")
      if !FileManager.default.fileExists(atPath: url.path) && shared.group == 0 && FileManager.default.fileExists(atPath: legacy.path) {
        url = legacy
      }
      try loadModule(shared, from: url, what: "shared weights of group \(shared.group)")
    }
  }

  static func loadModule(_ module: Module, from url: URL, what: String) throws {
    guard FileManager.default.fileExists(atPath: url.path) else {
      throw SAEError("\(url.lastPathComponent) is missing in \(url.deletingLastPathComponent().path) (\(what))")
    }
    let file = try SafeTensors.read(contentsOf: url)
    do {
      try module.load(stateDict: file.tensors)
    } catch let e as StateDictError {
      throw SAEError("\(url.path) does not fit sae.json (\(what)): \(e)")
    }
  }
}

/// A fixed list of named parameters as a `Module`, to load a file into it with `load(stateDict:)`.
final class ParameterList: Module {
  let namedParameters: [(String, Variable)]
  init(_ namedParameters: [(String, Variable)]) { self.namedParameters = namedParameters }
}
