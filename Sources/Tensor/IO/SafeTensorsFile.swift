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

extension SafeTensorsFile {
  /// The first float tensor (in name order) holding a NaN or an infinity, described for an error message
  /// ("'h.0.w' holds NaN at index 12"); nil when every value is finite.
  public var firstNonFinite: String? {
    for name in tensors.keys.sorted() {
      if let index = tensors[name]!.firstNonFiniteIndex {
        let value = tensors[name]!.withUnsafeBufferPointer { $0[index] }
        return "'\(name)' holds \(value.isNaN ? "NaN" : "\(value)") at index \(index)"
      }
    }
    return nil
  }
}

extension Tensor {
  /// The flat index of the first NaN or infinity, or nil when every element is finite.
  public var firstNonFiniteIndex: Int? {
    withUnsafeBufferPointer { b in b.firstIndex { !$0.isFinite } }
  }
}
