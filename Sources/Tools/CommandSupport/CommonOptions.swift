import ArgumentParser
import Foundation
import Tensor
import Training

/// Options every tool shares.
public struct CommonOptions: ParsableArguments {
  @Option(help: ArgumentHelp("Directory holding the tokenised dataset (train_*.npy, val_*.npy).", valueName: "dir"))
  public var dataDir: String?

  @Option(help: ArgumentHelp("Directory under which runs are written: a run named N goes to <dir>/N/.", valueName: "dir"))
  public var checkpointsDir: String = "checkpoints"

  @Flag(help: "Print one JSON object with the results on stdout; logs and progress go to stderr.")
  public var json = false

  public init() {}

  /// The checkpoints directory as a URL.
  public var checkpointsURL: URL { URL(fileURLWithPath: checkpointsDir) }
}

/// The value `parse` reads from the option `name`; a library error about it becomes a one-line tool error
/// naming the flag ("--edges: …"): the libraries describe values, the tools own the flags' wording.
public func flag<T>(_ name: String, _ parse: () throws -> T) throws -> T {
  do {
    return try parse()
  } catch {
    throw ToolError("\(name): \(error)")
  }
}

/// A one-line error for a tool's bad input.
public struct ToolError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description.onOneLine }
}

extension DataSplit: ExpressibleByArgument {}
