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
    saeSet = try SAEBuilder.build(config, gpt: gpt.config, seed: seed)
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
  /// the blocks needed (`GPT.activations`).
  public func activations(_ tokens: IntTensor, extra: [SAEKey] = []) throws -> [SAEKey: Tensor] {
    try gpt.activations(tokens, at: keys + extra)
  }

  /// Edits for `GPT.run` that run every attached SAE on its activation (storing each output in `outputs`)
  /// and continue from the reconstruction at the keys in `patch`.
  public func saeEdits(patch: Set<SAEKey>, outputs: SAEOutputs) -> [SAEKey: ActivationEdit] {
    var edits: [SAEKey: ActivationEdit] = [:]
    for (key, sae) in saes {
      edits[key] = { x in
        let out = sae(x)
        outputs.values[key] = out
        outputs.inputs[key] = x
        return patch.contains(key) ? out.reconstruction : x
      }
    }
    return edits
  }

  /// One forward pass with every SAE encoding its activation and the keys in `patch` replaced by their
  /// reconstructions; returns logits [B, T, V] and each SAE's output.
  public func run(_ tokens: IntTensor, patch: Set<SAEKey> = []) throws -> (logits: Variable, outputs: [SAEKey: SAEOutput]) {
    let outputs = SAEOutputs()
    let logits = try gpt.run(tokens, replace: saeEdits(patch: patch, outputs: outputs)).logits!
    return (logits, outputs.values)
  }
}

/// The SAE outputs of one pass (filled by `SparsifiedGPT.saeEdits`), with the input each SAE saw.
public final class SAEOutputs {
  public var values: [SAEKey: SAEOutput] = [:]
  /// The activation each SAE encoded (live: gradients flow into the GPT through it when enabled).
  public var inputs: [SAEKey: Variable] = [:]
  public init() {}
}
