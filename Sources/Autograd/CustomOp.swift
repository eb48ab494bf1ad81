import Tensor

extension Variable {
  /// Defines an operation with a hand-written backward: `forward` computes the value from the inputs'
  /// values; `backward(upstream, inputValues, output)` returns one gradient per input (nil where none),
  /// each with that input's shape. Used for straight-through estimators and other custom derivatives.
  public static func custom(_ name: String, inputs: [Variable],
                            forward: ([Tensor]) -> Tensor,
                            backward: @escaping (_ upstream: Tensor, _ inputs: [Tensor], _ output: Tensor) -> [Tensor?]) -> Variable {
    let values = inputs.map(\.value)
    let out = forward(values)
    return record(out, operation: name, inputs: inputs) { g in backward(g, values, out) }
  }
}
