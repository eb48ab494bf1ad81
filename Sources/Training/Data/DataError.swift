/// A one-line error about data files, directories or data-loader settings.
public struct DataError: Error, CustomStringConvertible, Equatable, Sendable {
  /// What went wrong, on one line, naming the file or directory when there is one.
  public var description: String

  public init(_ description: String) {
    self.description = description.split(whereSeparator: \.isNewline).joined(separator: " ")
  }
}
