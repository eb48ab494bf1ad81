import Autograd
import Foundation
import Tensor

/// Reads and writes a GPT checkpoint directory exactly as the PyTorch reference does: `model.json`
/// (the architecture) and `model.safetensors` (the state dict, F32, with the tied embedding stored once as
/// `lm_head.weight` and the metadata entry {"transformer.wte.weight": "lm_head.weight"}).
public enum GPTCheckpoint {
  public static let configFile = "model.json"
  public static let weightsFile = "model.safetensors"
  static let tiedName = "transformer.wte.weight"
  static let headName = "lm_head.weight"

  /// Reads `model.json` in `directory`.
  public static func loadConfig(from directory: URL) throws -> GPTConfig {
    let url = directory.appendingPathComponent(configFile)
    guard FileManager.default.fileExists(atPath: url.path) else {
      throw GPTError("no GPT checkpoint at \(directory.path): \(configFile) is missing")
    }
    let data: Data
    do {
      data = try Data(contentsOf: url)
    } catch {
      throw GPTError("cannot read \(url.path): \(error.localizedDescription)")
    }
    return try decodeConfig(data, source: url.path)
  }

  /// Parses and validates `model.json` bytes; errors name `source`.
  public static func decodeConfig(_ data: Data, source: String) throws -> GPTConfig {
    let config: GPTConfig
    do {
      config = try JSONDecoder().decode(GPTConfig.self, from: data)
    } catch let e as DecodingError {
      throw GPTError("\(source) is not a valid model.json: \(describe(e))")
    }
    do {
      try config.validate()
    } catch let e as GPTError {
      throw GPTError("\(source): \(e.description)")
    }
    return config
  }

  /// Throws unless a weights file of `bytes` bytes can hold `config`'s weights (at 2 bytes a weight, the
  /// smallest dtype), so that a corrupt model.json cannot make the loader allocate more than the file holds.
  public static func checkSize(_ config: GPTConfig, weightsBytes bytes: Int, source: String) throws {
    let needed = config.minimumWeightCount
    guard let needed, needed <= bytes / 2 else {
      throw GPTError("\(source) holds \(bytes) bytes, too few for the \(needed.map { "\($0)" } ?? "astronomically many") weights model.json describes")
    }
  }

  /// Loads the model in `directory`; strict about missing, unexpected and mis-shaped tensors.
  public static func load(from directory: URL) throws -> GPT {
    let config = try loadConfig(from: directory)
    let url = directory.appendingPathComponent(weightsFile)
    guard FileManager.default.fileExists(atPath: url.path) else {
      throw GPTError("no GPT weights at \(directory.path): \(weightsFile) is missing")
    }
    let data = try AtomicFile.read(url)
    try checkSize(config, weightsBytes: data.count, source: url.path)
    let model = try GPT(config: config)
    let file = try SafeTensors.decode(data, source: url.path)
    var state = file.tensors
    // The tied embedding: stored as lm_head.weight (reference) or transformer.wte.weight (either is accepted).
    if let head = state.removeValue(forKey: headName) {
      if let wte = state[tiedName], wte != head {
        throw GPTError("\(url.path): \(tiedName) and \(headName) differ, but the model ties them")
      }
      state[tiedName] = head
    }
    if !file.intTensors.isEmpty {
      throw GPTError("\(url.path): unexpected integer tensors \(file.intTensors.keys.sorted().joined(separator: ", "))")
    }
    do {
      try model.load(stateDict: state)
    } catch let e as StateDictError {
      throw GPTError("\(url.path) does not fit \(configFile): \(e)")
    }
    return model
  }

  /// Writes `model.json` and `model.safetensors` into `directory` (created if needed), each atomically.
  /// Weights holding a NaN or an infinity are refused before anything is written.
  public static func save(_ model: GPT, to directory: URL) throws {
    var tensors: [String: Tensor] = [:]
    for (name, p) in model.namedParameters { tensors[name == tiedName ? headName : name] = p.value }
    let file = SafeTensorsFile(tensors: tensors, metadata: [tiedName: headName])
    if let bad = file.firstNonFinite {
      throw GPTError("refusing to write a GPT checkpoint with non-finite weights into \(directory.path): \(bad); the previous checkpoint is kept")
    }
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    try SafeTensors.write(file, to: directory.appendingPathComponent(weightsFile))
    try AtomicFile.write(try configJSON(model.config), to: directory.appendingPathComponent(configFile))
  }

  /// model.json bytes in the reference's key order and spacing.
  public static func configJSON(_ c: GPTConfig) throws -> Data {
    let s = "{\"block_size\": \(c.blockSize), \"vocab_size\": \(c.vocabSize), \"n_layer\": \(c.nLayer), "
      + "\"n_head\": \(c.nHead), \"n_embd\": \(c.nEmbd), \"norm_strategy\": \"\(c.normStrategy.rawValue)\"}"
    return Data(s.utf8)
  }
}

/// One line describing a JSON decoding failure.
public func describe(_ e: DecodingError) -> String {
  func path(_ c: [CodingKey]) -> String { c.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".") }
  switch e {
  case .keyNotFound(let k, let ctx): return "missing key '\(path(ctx.codingPath + [k]))'"
  case .typeMismatch(_, let ctx): return "wrong type at '\(path(ctx.codingPath))': \(ctx.debugDescription)"
  case .valueNotFound(_, let ctx): return "missing value at '\(path(ctx.codingPath))'"
  case .dataCorrupted(let ctx):
    let p = path(ctx.codingPath)
    return p.isEmpty ? "invalid JSON" : "invalid value at '\(p)': \(ctx.debugDescription)"
  @unknown default: return "\(e)"
  }
}
