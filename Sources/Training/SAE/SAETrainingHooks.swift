import Autograd
import GPT
import SAE
import Tensor

/// Records the values of activations at chosen keys during a forward pass (nothing is replaced).
final class ActivationTap: GPTHook {
  let keys: Set<SAEKey>
  private(set) var values: [SAEKey: Tensor] = [:]
  init(keys: Set<SAEKey>) { self.keys = keys }
  func intercept(_ point: HookPoint, layer: Int, _ x: Variable) -> Variable {
    let key = SAEKey(layer: layer, hookPoint: point)
    if keys.contains(key) { values[key] = x.value }
    return x
  }
}

/// Replaces the activation at one key by a given value and records the (differentiable) activations at
/// other keys.
final class PatchRecorder: GPTHook {
  let patchKey: SAEKey
  let replacement: Variable
  let record: Set<SAEKey>
  private(set) var recorded: [SAEKey: Variable] = [:]
  init(patch key: SAEKey, with replacement: Variable, record: Set<SAEKey>) {
    patchKey = key
    self.replacement = replacement
    self.record = record
  }
  func intercept(_ point: HookPoint, layer: Int, _ x: Variable) -> Variable {
    let key = SAEKey(layer: layer, hookPoint: point)
    if record.contains(key) { recorded[key] = x }
    return key == patchKey ? replacement : x
  }
}

/// Runs each SAE on its live activation (gradients flow into the GPT through the input), keeping the
/// input with the output; nothing is patched.
final class LiveSAEHook: GPTHook {
  let saes: [SAEKey: any SparseAutoencoder]
  private(set) var outputs: [SAEKey: (input: Variable, output: SAEOutput)] = [:]
  init(saes: [SAEKey: any SparseAutoencoder]) { self.saes = saes }
  func intercept(_ point: HookPoint, layer: Int, _ x: Variable) -> Variable {
    let key = SAEKey(layer: layer, hookPoint: point)
    if let sae = saes[key] { outputs[key] = (x, sae(x)) }
    return x
  }
}
