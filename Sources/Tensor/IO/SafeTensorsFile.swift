/// The contents of a `.safetensors` file: named float tensors, named integer tensors and string metadata.
public struct SafeTensorsFile: Sendable {
  /// F32 / F16 / BF16 entries, read as Float32 (written as F32).
  public var tensors: [String: Tensor]
  /// I64 / I32 entries (I64 values must fit Int32 on read).
  public var intTensors: [String: IntTensor]
  /// The `__metadata__` map (empty if absent; omitted from the file when empty).
  public var metadata: [String: String]

  public init(tensors: [String: Tensor] = [:], intTensors: [String: IntTensor] = [:], metadata: [String: String] = [:]) {
    self.tensors = tensors
    self.intTensors = intTensors
    self.metadata = metadata
  }
}
