import Autograd
import Foundation
import GPT
import Tensor

/// One-line errors and diagnoses for NaN and infinite values met in training and evaluation.
public enum NonFinite {
  /// The error that stops a run: "<what>; stopping: the last good checkpoint is <dir> (<checkpoint>); nothing
  /// non-finite was written". `checkpoint` names the step(s) of the saved checkpoint, nil when none is saved.
  static func stop(_ what: String, runDirectory: URL, checkpoint: String?) -> TrainingError {
    let saved = checkpoint.map { "the last good checkpoint is \(runDirectory.path) (\($0))" }
      ?? "no checkpoint had been saved in \(runDirectory.path) yet"
    return TrainingError("\(what); stopping: \(saved); nothing non-finite was written")
  }

  /// " (first non-finite gradient: <name>)" for the first parameter whose gradient holds a NaN or an
  /// infinity, or "" when there is none.
  static func gradientNote(_ parameters: [(String, Variable)]) -> String {
    for (name, p) in parameters where p.grad?.firstNonFiniteIndex != nil {
      return " (first non-finite gradient: \(name))"
    }
    return ""
  }

  /// Where a GPT first produces a non-finite value on `tokens`: a parameter holding one ("parameter
  /// transformer.h.1.mlp.c_fc.weight"), else the first activation (in the order the pass reaches them) that
  /// holds one ("block 2's residmid activation (2_residmid)"), else "the logits"; nil when everything is finite.
  public static func locate(in gpt: GPT, tokens: IntTensor) -> String? {
    for (name, p) in gpt.namedParameters where p.value.firstNonFiniteIndex != nil {
      return "parameter \(name)"
    }
    let keys = (0...gpt.config.nLayer).flatMap { layer in HookPoint.allCases.map { ActivationKey(layer: layer, hookPoint: $0) } }
    guard let run = try? withNoGrad({ try gpt.run(tokens, record: Set(keys)) }) else { return nil }
    if let key = run.activations.filter({ $0.value.value.firstNonFiniteIndex != nil }).keys.min() {
      let block = key.layer == gpt.config.nLayer ? "the final norm's input" : "block \(key.layer)'s \(key.hookPoint.rawValue) activation"
      return "\(block) (\(key))"
    }
    return run.logits?.value.firstNonFiniteIndex != nil ? "the logits" : nil
  }
}
