import Tensor

/// A component with trainable parameters, listed as ordered (name, parameter) pairs whose names are the
/// PyTorch state-dict keys (e.g. `transformer.h.0.attn.c_attn.weight`).
public protocol Module: AnyObject {
  /// Every parameter with its state-dict name, in a fixed order.
  var namedParameters: [(String, Variable)] { get }
}

/// Why a state dict could not be loaded into a module.
public struct StateDictError: Error, CustomStringConvertible {
  public var missing: [String]
  public var unexpected: [String]
  public var mismatched: [(name: String, expected: [Int], found: [Int])]

  public var description: String {
    var parts: [String] = []
    if !missing.isEmpty { parts.append("missing tensors: \(missing.joined(separator: ", "))") }
    if !unexpected.isEmpty { parts.append("unexpected tensors: \(unexpected.joined(separator: ", "))") }
    if !mismatched.isEmpty {
      parts.append("wrong shapes: " + mismatched.map { "\($0.name) expected \($0.expected) found \($0.found)" }.joined(separator: ", "))
    }
    return parts.joined(separator: "; ").onOneLine
  }
}

extension Module {
  /// The parameters in `namedParameters` order.
  public var parameters: [Variable] { namedParameters.map { $0.1 } }

  /// Total number of parameter elements.
  public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

  /// Name → value of every parameter.
  public func stateDict() -> [String: Tensor] {
    Dictionary(namedParameters.map { ($0.0, $0.1.value) }, uniquingKeysWith: { a, _ in a })
  }

  /// Loads values by name. Strict: fails, changing nothing, when a parameter is missing, a tensor is not a
  /// parameter, or a shape differs.
  public func load(stateDict: [String: Tensor]) throws {
    let named = namedParameters
    var error = StateDictError(missing: [], unexpected: [], mismatched: [])
    let names = Set(named.map { $0.0 })
    for (name, p) in named {
      guard let t = stateDict[name] else { error.missing.append(name); continue }
      if t.shape != p.shape { error.mismatched.append((name, p.shape, t.shape)) }
    }
    error.unexpected = stateDict.keys.filter { !names.contains($0) }.sorted()
    if !error.missing.isEmpty || !error.unexpected.isEmpty || !error.mismatched.isEmpty { throw error }
    for (name, p) in named { p.assign(stateDict[name]!) }
  }

  /// Clears every parameter's gradient.
  public func zeroGrad() { for p in parameters { p.zeroGrad() } }

  /// Freezes (or unfreezes) every parameter.
  public func setRequiresGrad(_ flag: Bool) { for p in parameters { p.setRequiresGrad(flag) } }
}

/// Prefixes every name of a child's parameters with `prefix` + ".".
public func prefixed(_ prefix: String, _ named: [(String, Variable)]) -> [(String, Variable)] {
  named.map { ("\(prefix).\($0.0)", $0.1) }
}
