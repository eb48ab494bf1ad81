import Autograd

/// A place inside a GPT forward pass where an activation can be read or replaced.
/// The raw values are the suffixes of the reference's SAE keys (`{layer}_{hookpoint}`).
public enum HookPoint: String, Codable, Sendable, CaseIterable {
  /// The residual stream entering block `layer` (layer = n_layer: the input of ln_f). [B, T, C]
  case act
  /// The residual after attention in block `layer`, as fed to ln_2 (replacing it leaves the skip clean). [B, T, C]
  case residmid
  /// The MLP input (ln_2 output) of block `layer`. [B, T, C]
  case mlpin
  /// The MLP output of block `layer`, before the residual add. [B, T, C]
  case mlpout
  /// The output of block `layer`. [B, T, C]
  case residpost
}

/// Observes or replaces activations during a GPT forward pass.
public protocol GPTHook: AnyObject {
  /// Called with the activation at `point` of `layer`; the returned value continues the forward pass
  /// (return `x` to only observe).
  func intercept(_ point: HookPoint, layer: Int, _ x: Variable) -> Variable
  /// Whether `intercept` wants the activation at `point` of `layer` at all (default: yes). A block whose
  /// inner points are neither observed nor edited computes them without handing them out.
  func observes(_ point: HookPoint, layer: Int) -> Bool
  /// Whether `intercept` may return something other than its argument at `point` of `layer` (default: yes).
  /// A block none of whose inner points may be edited runs its cache-blocked inference forward
  /// (`Block.inference`) when no gradient is needed.
  func mayEdit(_ point: HookPoint, layer: Int) -> Bool
}

extension GPTHook {
  public func observes(_ point: HookPoint, layer: Int) -> Bool { true }
  public func mayEdit(_ point: HookPoint, layer: Int) -> Bool { true }
}
