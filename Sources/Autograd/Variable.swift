import Tensor

/// A node of the autograd graph: a tensor value, its gradient after `backward()`, and — for results of
/// operations on inputs that require gradients — the function that maps the result's gradient to its
/// inputs' gradients.
///
/// Leaves are created by `Variable(_:requiresGrad:)` (parameters, inputs); every differentiable operation
/// returns a new `Variable`. An operation records its backward only when gradient recording is on and at
/// least one input requires a gradient; otherwise its result is a constant leaf.
public final class Variable {
  /// The tensor this node holds.
  public private(set) var value: Tensor
  /// The accumulated gradient (same shape as `value`), set by `backward()` on leaves that require one.
  public var grad: Tensor?
  /// Whether gradients flow to and through this node.
  public private(set) var requiresGrad: Bool
  /// Keep `grad` on this non-leaf node after `backward()` (leaves always keep theirs).
  public var retainsGrad = false
  /// Name of the operation that produced this node ("leaf" for leaves); used in error messages.
  public let operation: String

  var inputs: [Variable]
  var backwardFunction: ((Tensor) -> [Tensor?])?

  /// A leaf holding `value`.
  public init(_ value: Tensor, requiresGrad: Bool = false) {
    self.value = value
    self.requiresGrad = requiresGrad
    self.operation = "leaf"
    self.inputs = []
    self.backwardFunction = nil
  }

  /// Releases long chains of inputs iteratively: a recursive release would use one stack frame per node.
  deinit {
    guard !inputs.isEmpty else { return }
    var stack = inputs
    inputs = []
    backwardFunction = nil
    while var node = stack.popLast() {
      if isKnownUniquelyReferenced(&node) {
        stack.append(contentsOf: node.inputs)
        node.inputs = []
        node.backwardFunction = nil
      }
    }
  }

  init(value: Tensor, operation: String, inputs: [Variable], backward: @escaping (Tensor) -> [Tensor?]) {
    self.value = value
    self.requiresGrad = true
    self.operation = operation
    self.inputs = inputs
    self.backwardFunction = backward
  }

  /// Builds the result of an operation: records `backward` (which maps the result's gradient to one
  /// gradient per input, nil for inputs that need none) only when recording is on and some input requires
  /// a gradient. `backward` is not called for a result nobody differentiates.
  public static func record(_ value: Tensor, operation: String, inputs: [Variable],
                            backward: @escaping (Tensor) -> [Tensor?]) -> Variable {
    if GradMode.isEnabled && inputs.contains(where: { $0.requiresGrad }) {
      return Variable(value: value, operation: operation, inputs: inputs, backward: backward)
    }
    return Variable(value)
  }

  /// True for nodes not produced by a recorded operation.
  public var isLeaf: Bool { backwardFunction == nil && inputs.isEmpty }
  /// Shape of the value.
  public var shape: [Int] { value.shape }
  /// Rank of the value.
  public var rank: Int { value.rank }

  /// A leaf sharing this node's value and cut from the graph.
  public func detached() -> Variable { Variable(value) }

  /// Marks a leaf as requiring (or not) a gradient; parameters use this to freeze and unfreeze.
  public func setRequiresGrad(_ flag: Bool) {
    precondition(isLeaf, "requiresGrad can only be changed on leaves (this node comes from \(operation))")
    requiresGrad = flag
  }

  /// Replaces a leaf's value by a tensor of the same shape (loading checkpoints, optimizer steps).
  public func assign(_ newValue: Tensor) {
    precondition(isLeaf, "only leaves can be assigned (this node comes from \(operation))")
    precondition(newValue.shape == value.shape, "assign: new value \(newValue.shape) does not match \(value.shape)")
    value = newValue
  }

  /// Mutates a leaf's value in place (optimizer steps); the shape must not change.
  public func updateValue(_ body: (inout Tensor) -> Void) {
    precondition(isLeaf, "only leaves can be updated in place (this node comes from \(operation))")
    let shape = value.shape
    body(&value)
    precondition(value.shape == shape, "in-place update changed the shape from \(shape) to \(value.shape)")
  }

  /// Clears the gradient.
  public func zeroGrad() { grad = nil }

  /// Back-propagates from this scalar node with seed gradient 1.
  public func backward(retainGraph: Bool = false) {
    precondition(value.count == 1, "backward() without a gradient needs a scalar, got shape \(value.shape); use backward(gradient:)")
    backward(gradient: Tensor(shape: value.shape, repeating: 1), retainGraph: retainGraph)
  }

  /// Back-propagates an explicit upstream gradient (same shape as the value) through the graph in
  /// reverse topological order, accumulating into every leaf that requires a gradient (and into nodes with
  /// `retainsGrad`). Unless `retainGraph`, the graph's saved tensors are released afterwards; a second
  /// backward through a released graph reaches no leaves.
  public func backward(gradient: Tensor, retainGraph: Bool = false) {
    precondition(gradient.shape == value.shape, "backward: gradient \(gradient.shape) does not match value \(value.shape)")
    guard requiresGrad else { return }
    let order = topologicalOrder()
    // This pass's gradient per node, kept apart from `grad` so that gradients retained from earlier
    // passes are never propagated again.
    var pending: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): gradient]
    for node in order.reversed() {
      if let g = pending.removeValue(forKey: ObjectIdentifier(node)) {
        if node.isLeaf || node.retainsGrad { node.accumulate(g) }
        if let fn = node.backwardFunction {
          let grads = fn(g)
          precondition(grads.count == node.inputs.count,
                       "\(node.operation) backward returned \(grads.count) gradients for \(node.inputs.count) inputs")
          for (input, ig) in zip(node.inputs, grads) {
            guard input.requiresGrad, let ig else { continue }
            precondition(ig.shape == input.value.shape,
                         "\(node.operation) backward produced a gradient of shape \(ig.shape) for an input of shape \(input.value.shape)")
            let key = ObjectIdentifier(input)
            if pending[key] == nil { pending[key] = ig } else { pending[key]!.addInPlace(ig) }
          }
        }
      }
      if !retainGraph {
        node.backwardFunction = nil
        node.inputs = []
      }
    }
  }

  func accumulate(_ g: Tensor) {
    if grad == nil { grad = g } else { grad!.addInPlace(g) }
  }

  /// Nodes reachable from this one through recorded operations, inputs before users (iterative DFS).
  func topologicalOrder() -> [Variable] {
    var order: [Variable] = []
    var visited = Set<ObjectIdentifier>()
    var stack: [(Variable, Int)] = [(self, 0)]
    visited.insert(ObjectIdentifier(self))
    while let (node, next) = stack.popLast() {
      if next < node.inputs.count {
        stack.append((node, next + 1))
        let child = node.inputs[next]
        if child.requiresGrad && visited.insert(ObjectIdentifier(child)).inserted {
          stack.append((child, 0))
        }
      } else {
        order.append(node)
      }
    }
    return order
  }
}

extension Variable: CustomStringConvertible {
  public var description: String { "Variable(\(operation), \(value))" }
}
