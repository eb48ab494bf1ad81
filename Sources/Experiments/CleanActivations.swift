import Autograd
import GPT
import SAE
import Tensor

/// Clean (unpatched) GPT activations at chosen SAE keys, from one forward pass that stops after the last
/// block needed.
public enum CleanActivations {
  /// Activations [B, T, C] at `keys` for tokens [B, T] (no gradients).
  public static func record(_ gpt: GPT, tokens: IntTensor, keys: Set<SAEKey>) throws -> [SAEKey: Tensor] {
    let recorder = ActivationRecorder(keys: keys)
    let n = gpt.config.nLayer
    let stop = Swift.min(n, (keys.map(\.layer).max() ?? 0) + 1)
    try withNoGrad {
      let h = gpt.runBlocks(try gpt.embed(tokens), from: 0, to: stop, hook: recorder)
      if stop == n { _ = recorder.intercept(.act, layer: n, h) }
    }
    for key in keys where recorder.values[key] == nil {
      throw ExperimentError("the model has no activation \(key)")
    }
    return recorder.values
  }
}
