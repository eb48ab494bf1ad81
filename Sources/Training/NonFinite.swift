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
  /// transformer.h.1.mlp.c_fc.weight"), else the first hook point whose activation holds one ("block 2's
  /// residmid activation (2_residmid)"), else "the logits"; nil when everything is finite.
  public static func locate(in gpt: GPT, tokens: IntTensor) -> String? {
    for (name, p) in gpt.namedParameters where p.value.firstNonFiniteIndex != nil {
      return "parameter \(name)"
    }
    final class FirstNonFinite: GPTHook {
      var found: (HookPoint, Int)?
      func intercept(_ point: HookPoint, layer: Int, _ x: Variable) -> Variable {
        if found == nil && x.value.firstNonFiniteIndex != nil { found = (point, layer) }
        return x
      }
    }
    let hook = FirstNonFinite()
    guard let logits = try? withNoGrad({ try gpt(tokens, hook: hook).value }) else { return nil }
    if let (point, layer) = hook.found {
      let block = layer == gpt.config.nLayer ? "the final norm's input" : "block \(layer)'s \(point.rawValue) activation"
      return "\(block) (\(layer)_\(point.rawValue))"
    }
    return logits.firstNonFiniteIndex != nil ? "the logits" : nil
  }
}
