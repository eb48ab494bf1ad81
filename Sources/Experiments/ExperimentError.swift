import Tensor

/// A one-line error from an experiment: a bad checkpoint, attribution file, option or dataset.
public struct ExperimentError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description.onOneLine }
}
