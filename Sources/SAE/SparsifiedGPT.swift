import Autograd
import Foundation
import GPT
import Tensor

/// A frozen GPT with SAEs attached at their keys (spec section 5): it records activations and SAE outputs
/// in one forward pass and can patch any subset of keys with their reconstructions.
public final class SparsifiedGPT {
  public let gpt: GPT
  public let config: SAEConfig
  public let saeSet: SAESet
  /// SAE by key.
  public let saes: [SAEKey: any SparseAutoencoder]

  /// Fresh SAEs (registry build from `seed`) on `gpt`.
  public init(gpt: GPT, config: SAEConfig, seed: UInt64 = 0) throws {
    self.gpt = gpt
    self.config = config
    saeSet = try SAERegistry.build(config, gpt: gpt.config, seed: seed)
    saes = Dictionary(uniqueKeysWithValues: saeSet.saes.map { ($0.key, $0) })
  }

  /// The SAEs in key order.
  public var orderedSAEs: [any SparseAutoencoder] { saeSet.saes }
  public var keys: [SAEKey] { config.saeKeys }
  public var placement: SAEPlacement? { config.placement }

  /// Every SAE parameter (own and shared), each once, named `{key}.{name}` and `shared.{g}.{name}`.
  public var namedParameters: [(String, Variable)] {
    var out: [(String, Variable)] = []
    for sae in saeSet.saes { out += prefixed(sae.key.description, sae.namedParameters) }
    for g in saeSet.groups { out += prefixed("shared.\(g.group)", g.namedParameters) }
    return out
  }

  /// Loads the GPT and the SAEs of a checkpoint directory.
  public static func load(from directory: URL) throws -> SparsifiedGPT {
    let gpt = try GPTCheckpoint.load(from: directory)
    let config = try SAEConfig.load(from: directory)
    try config.validate(for: gpt.config)
    // A corrupt sae.json must not make the SAEs allocate more than their files hold (2 bytes a weight at least).
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    let bytes = names.filter { $0.hasPrefix("sae.") && $0.hasSuffix(".safetensors") }.reduce(0) { total, name in
      let attributes = try? FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(name).path)
      return total + ((attributes?[.size] as? NSNumber)?.intValue ?? 0)
    }
    guard let needed = config.minimumWeightCount(nEmbd: gpt.config.nEmbd), needed <= bytes / 2 else {
      throw SAEError("the SAE files in \(directory.path) hold \(bytes) bytes, too few for the SAEs sae.json describes (n_features \(config.nFeatures))")
    }
    let model = try SparsifiedGPT(gpt: gpt, config: config)
    try SAECheckpoint.load(into: model.saeSet, from: directory)
    return model
  }

  /// Writes the GPT, sae.json and the SAE files (only `keys` when given, plus their groups' shared files).
  public func save(to directory: URL, keys subset: [SAEKey]? = nil) throws {
    try GPTCheckpoint.save(gpt, to: directory)
    let indices = subset.map { $0.compactMap { config.index(of: $0) } }
    try SAECheckpoint.save(saeSet, config: config, to: directory, indices: indices)
  }

  /// Clean activations [B, T, C] at every SAE key (and at `extra` keys), with nothing patched; runs only
  /// the blocks needed.
  public func activations(_ tokens: IntTensor, extra: [SAEKey] = []) throws -> [SAEKey: Tensor] {
    try Self.activations(of: gpt, tokens, keys: keys + extra)
  }

  /// Clean activations [B, T, C] of `gpt` at `wanted` keys; runs only the blocks needed.
  public static func activations(of gpt: GPT, _ tokens: IntTensor, keys wanted: [SAEKey]) throws -> [SAEKey: Tensor] {
    let recorder = ActivationRecorder(keys: Set(wanted))
    let n = gpt.config.nLayer
    let stop = Swift.min(n, wanted.map { $0.hookPoint == .act ? $0.layer : $0.layer + 1 }.max() ?? n)
    try withNoGrad {
      let h = gpt.runBlocks(try gpt.embed(tokens), from: 0, to: stop, hook: recorder)
      _ = recorder.intercept(.act, layer: stop, h)  // the residual entering block `stop` (or ln_f)
    }
    return recorder.values
  }

  /// One forward pass with every SAE encoding its activation and the keys in `patch` replaced by their
  /// reconstructions; returns logits [B, T, V] and each SAE's output.
  public func run(_ tokens: IntTensor, patch: Set<SAEKey> = []) throws -> (logits: Variable, outputs: [SAEKey: SAEOutput]) {
    let hook = SAEHook(saes: saes, patch: patch)
    let logits = try gpt(tokens, hook: hook)
    return (logits, hook.outputs)
  }
}

/// A hook that records the activations at chosen SAE keys and changes nothing.
public final class ActivationRecorder: GPTHook {
  public let keys: Set<SAEKey>
  /// The activations recorded so far, by key.
  public private(set) var values: [SAEKey: Tensor] = [:]
  public init(keys: Set<SAEKey>) { self.keys = keys }
  public func intercept(_ point: HookPoint, layer: Int, _ x: Variable) -> Variable {
    let key = SAEKey(layer: layer, hookPoint: point)
    if keys.contains(key) { values[key] = x.value }
    return x
  }
}

/// Runs each attached SAE on its activation, patches the chosen keys, and records activations at `record`.
final class SAEHook: GPTHook {
  let saes: [SAEKey: any SparseAutoencoder]
  let patch: Set<SAEKey>
  let record: Set<SAEKey>
  var outputs: [SAEKey: SAEOutput] = [:]
  var recorded: [SAEKey: Tensor] = [:]
  init(saes: [SAEKey: any SparseAutoencoder], patch: Set<SAEKey>, record: Set<SAEKey> = []) {
    self.saes = saes
    self.patch = patch
    self.record = record
  }
  func intercept(_ point: HookPoint, layer: Int, _ x: Variable) -> Variable {
    let key = SAEKey(layer: layer, hookPoint: point)
    if record.contains(key) { recorded[key] = x.value }
    guard let sae = saes[key] else { return x }
    let out = sae(x)
    outputs[key] = out
    return patch.contains(key) ? out.reconstruction : x
  }
}
