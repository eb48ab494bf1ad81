import ArgumentParser
import Foundation
import Training
#if MPI
import MessagePassing
#endif

/// Runs a tool's work as one rank of a data-parallel job when started by `mpirun -np N` (tools built with
/// the package trait `MPI`), otherwise as a single process; `work` gets the job's `DataParallel`.
///
/// Under MPI: the ranks first compare their command lines (a mismatch is a one-line error from rank 0
/// naming the ranks, and every rank exits with status 1); an error on one rank is printed as one line
/// naming the rank and ends the whole job (MPI_Abort), so no rank waits forever in a collective; a stop
/// request (`StopError`, which all ranks agree on) ends every rank with its status; MPI is finalised at the
/// end. A tool built without the trait refuses to run under `mpirun -np N` (N > 1) with a one-line error.
public func withProcesses(tool: String, _ work: (DataParallel) throws -> Void) throws {
  #if MPI
  let communicator = try MPICommunicator()
  if communicator.size == 1 {
    defer { communicator.finalize() }
    try work(DataParallel(communicator: communicator))
    return
  }
  let parallel = DataParallel(communicator: communicator)
  do {
    try checkSameCommandLine(parallel)
  } catch let e as ToolError {
    if parallel.isWriter { Terminal.line("Error: \(e.description)") }
    communicator.finalize()
    throw ExitCode(1)
  }
  do {
    try work(parallel)
  } catch let e as StopError {
    // Every rank stopped after the same step; rank 0 (which has written the resume state) reports it, and the
    // others wait for it before exiting with the status: mpirun ends the job at the first non-zero exit.
    if parallel.isWriter {
      Terminal.clearProgress()
      Terminal.line(e.description)
    }
    _ = try? communicator.allgather(Data())
    communicator.finalize()
    throw ExitCode(e.exitCode)
  } catch let e as ExitCode {
    communicator.finalize()
    throw e
  } catch {
    Terminal.clearProgress()
    Terminal.line("Error: rank \(parallel.rank) of \(parallel.worldSize): \(error)")
    communicator.abort(code: 1)
  }
  communicator.finalize()
  #else
  if let size = mpiWorldSize(), size > 1 {
    throw ToolError("this \(tool) was built without MPI support but was started as one of \(size) processes by mpirun; rebuild with `swift build -c release --traits MPI` (needs libopenmpi-dev)")
  }
  try work(.single)
  #endif
}

/// The world size mpirun announces in the environment (Open MPI's OMPI_COMM_WORLD_SIZE, PMI_SIZE), if any.
func mpiWorldSize() -> Int? {
  let environment = ProcessInfo.processInfo.environment
  for name in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"] {
    if let text = environment[name], let n = Int(text) { return n }
  }
  return nil
}

/// Throws a one-line error naming the ranks whose arguments differ from rank 0's (the program path aside).
func checkSameCommandLine(_ parallel: DataParallel) throws {
  let mine = try JSONEncoder().encode(Array(CommandLine.arguments.dropFirst()))
  let all = try parallel.communicator.allgather(mine)
  let lines = all.map { (try? JSONDecoder().decode([String].self, from: $0)) ?? [] }
  let differing = lines.indices.filter { lines[$0] != lines[0] }
  guard let first = differing.first else { return }
  throw ToolError("ranks 0 and \(differing.map(String.init).joined(separator: ", ")) were started with different command lines ('\(lines[0].joined(separator: " "))' vs '\(lines[first].joined(separator: " "))'); every rank must run the same command")
}
