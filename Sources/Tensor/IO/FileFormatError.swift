/// One-line, human-readable error for malformed or unreadable files.
public struct FileFormatError: Error, CustomStringConvertible, Equatable, Sendable {
  /// What went wrong, on one line, naming the file or data source.
  public var description: String

  /// An error with this description; line breaks are replaced by spaces to keep it on one line.
  public init(_ description: String) {
    self.description = description.onOneLine
  }
}

extension String {
  /// The text with its line breaks replaced by spaces, for error messages that must stay on one line (a
  /// value quoted from a file may hold line breaks).
  public var onOneLine: String {
    contains(where: \.isNewline) ? split(whereSeparator: \.isNewline).joined(separator: " ") : self
  }
}
