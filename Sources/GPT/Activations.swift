import Autograd
import Tensor

/// What `GPT.run` returns: the logits (unless the pass stopped early) and the recorded activations.
public struct ActivationRun {
  /// Logits [B, T, V]; nil when the pass stopped after `stopAfter`.
  public var logits: Variable?
  /// The activation at each recorded key as the pass reached it (before any replacement at that key).
  public var activations: [ActivationKey: Variable]
}

/// An edit of the activation at one key: receives the value the pass reached, returns the value it continues
/// with (return the argument to only observe).
public typealias ActivationEdit = (Variable) -> Variable

extension GPT {
  /// One forward pass in the TransformerLens spirit (`run_with_cache` with hooks): records the activations
  /// at `record`, continues from `replace[key](x)` wherever an edit is given, and stops at the end of the
  /// block that reaches `stopAfter` (nil: runs to the logits). Recorded values are those the pass reached, before the edit at
  /// the same key. Every activation capture of the toolkit goes through here.
  ///
  /// Stopping: an `act` key of layer L is reached after blocks 0..<L (L = n_layer is ln_f's input); any other
  /// key of layer L after block L. Keys order as the pass reaches them, so `stopAfter: keys.max()` runs only
  /// the blocks that some key needs.
  public func run(_ tokens: IntTensor, record: Set<ActivationKey> = [], replace: [ActivationKey: ActivationEdit] = [:],
                  stopAfter: ActivationKey? = nil) throws -> ActivationRun {
    run(residual: try embed(tokens), startAt: 0, record: record, replace: replace, stopAfter: stopAfter)
  }

  /// `run` on a residual entering block `startAt` (the reference's `forward(start_at_layer:)`); keys of
  /// earlier layers are never reached.
  public func run(residual: Variable, startAt start: Int, record: Set<ActivationKey> = [],
                  replace: [ActivationKey: ActivationEdit] = [:], stopAfter: ActivationKey? = nil) -> ActivationRun {
    let n = config.nLayer
    precondition(start >= 0 && start <= n, "start layer \(start) out of range for \(n) blocks")
    let hook = ActivationHook(record: record, replace: replace)
    guard let stop = stopAfter else {
      let logits = head(runBlocks(residual, from: start, to: n, hook: hook), hook: hook)
      return ActivationRun(logits: logits, activations: hook.recorded)
    }
    let end = Swift.max(start, Swift.min(n, stop.hookPoint == .act ? stop.layer : stop.layer + 1))
    let h = runBlocks(residual, from: start, to: end, hook: hook)
    if stop.hookPoint == .act && stop.layer == end { _ = hook.intercept(.act, layer: end, h) }
    return ActivationRun(logits: nil, activations: hook.recorded)
  }

  /// Clean activations [B, T, C] at `keys` for tokens [B, T], without gradients, from one pass that runs only
  /// the blocks needed. Throws when a key is not an activation of this model.
  public func activations<Keys: Sequence>(_ tokens: IntTensor, at keys: Keys) throws -> [ActivationKey: Tensor]
    where Keys.Element == ActivationKey {
    let wanted = Set(keys)
    guard let last = wanted.max() else { return [:] }
    let run = try withNoGrad { try self.run(tokens, record: wanted, stopAfter: last) }
    for key in wanted where run.activations[key] == nil {
      throw GPTError("the model has no activation \(key)")
    }
    return run.activations.mapValues(\.value)
  }
}

/// The hook behind `GPT.run`: records and edits activations by key.
final class ActivationHook: GPTHook {
  let record: Set<ActivationKey>
  let replace: [ActivationKey: ActivationEdit]
  var recorded: [ActivationKey: Variable] = [:]

  init(record: Set<ActivationKey>, replace: [ActivationKey: ActivationEdit]) {
    self.record = record
    self.replace = replace
  }

  func intercept(_ point: HookPoint, layer: Int, _ x: Variable) -> Variable {
    let key = ActivationKey(layer: layer, hookPoint: point)
    if record.contains(key) { recorded[key] = x }
    return replace[key]?(x) ?? x
  }

  func observes(_ point: HookPoint, layer: Int) -> Bool {
    let key = ActivationKey(layer: layer, hookPoint: point)
    return record.contains(key) || replace[key] != nil
  }

  func mayEdit(_ point: HookPoint, layer: Int) -> Bool { replace[ActivationKey(layer: layer, hookPoint: point)] != nil }
}
