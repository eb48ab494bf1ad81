// The MPI communicator: compiled only with the package trait `MPI` (`swift build --traits MPI`); without it
// this module is empty and the tools run as single processes.
#if MPI
import CMPI
import Foundation
import Tensor
import Training

/// `Communicator` over MPI_COMM_WORLD (Open MPI). Errors return to the caller (MPI_ERRORS_RETURN) and
/// become one-line `MPIError`s naming the operation and this rank.
public final class MPICommunicator: Communicator {
  public let rank: Int
  public let size: Int
  private let comm: MPI_Comm

  /// Initialises MPI (once per process) and joins MPI_COMM_WORLD.
  public init() throws {
    var initialized: Int32 = 0
    MPI_Initialized(&initialized)
    if initialized == 0 {
      var provided: Int32 = 0
      let code = MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided)
      guard code == cmpi_success() else { throw MPIError("MPI_Init failed: \(Self.message(code))") }
    }
    comm = cmpi_comm_world()
    MPI_Comm_set_errhandler(comm, cmpi_errors_return())
    var r: Int32 = 0, n: Int32 = 0
    MPI_Comm_rank(comm, &r)
    MPI_Comm_size(comm, &n)
    rank = Int(r)
    size = Int(n)
  }

  /// Ends MPI in this process (call once, after the last collective, on every rank).
  public func finalize() {
    var finalized: Int32 = 0
    MPI_Finalized(&finalized)
    if finalized == 0 { MPI_Finalize() }
  }

  /// Ends every process of the job at once with `code` (after an error on one rank, so none waits forever
  /// in a collective).
  public func abort(code: Int32) -> Never {
    MPI_Abort(comm, code)
    exit(code)
  }

  public func allreduceSum(_ buffer: inout [Float]) throws {
    let count = buffer.count
    let code = buffer.withUnsafeMutableBufferPointer { b in
      MPI_Allreduce(cmpi_in_place(), b.baseAddress, Int32(count), cmpi_float(), cmpi_sum(), comm)
    }
    try check(code, "MPI_Allreduce of \(count) floats")
  }

  public func allreduceSum(_ buffer: inout [Double]) throws {
    let count = buffer.count
    let code = buffer.withUnsafeMutableBufferPointer { b in
      MPI_Allreduce(cmpi_in_place(), b.baseAddress, Int32(count), cmpi_double(), cmpi_sum(), comm)
    }
    try check(code, "MPI_Allreduce of \(count) doubles")
  }

  public func broadcast(_ data: Data, root: Int) throws -> Data {
    var length = Int64(rank == root ? data.count : 0)
    try check(MPI_Bcast(&length, 1, cmpi_int64(), Int32(root), comm), "MPI_Bcast of a length")
    guard length <= Int64(Int32.max) else { throw MPIError("rank \(rank): a broadcast of \(length) bytes exceeds MPI's count limit") }
    var bytes = rank == root ? [UInt8](data) : [UInt8](repeating: 0, count: Int(length))
    if length > 0 {
      let code = bytes.withUnsafeMutableBytes { b in MPI_Bcast(b.baseAddress, Int32(length), cmpi_byte(), Int32(root), comm) }
      try check(code, "MPI_Bcast of \(length) bytes")
    }
    return Data(bytes)
  }

  public func allgather(_ data: Data) throws -> [Data] {
    var mine = Int64(data.count)
    var lengths = [Int64](repeating: 0, count: size)
    let code = lengths.withUnsafeMutableBufferPointer { b in
      MPI_Allgather(&mine, 1, cmpi_int64(), b.baseAddress, 1, cmpi_int64(), comm)
    }
    try check(code, "MPI_Allgather of lengths")
    let total = lengths.reduce(0, +)
    guard total <= Int64(Int32.max) else { throw MPIError("rank \(rank): an allgather of \(total) bytes exceeds MPI's count limit") }
    var counts = lengths.map { Int32($0) }
    var displacements = [Int32](repeating: 0, count: size)
    for r in 1..<max(1, size) { displacements[r] = displacements[r - 1] + counts[r - 1] }
    var received = [UInt8](repeating: 0, count: Int(total))
    var sent = [UInt8](data)
    let code2 = sent.withUnsafeMutableBytes { s in
      received.withUnsafeMutableBytes { r in
        counts.withUnsafeMutableBufferPointer { c in
          displacements.withUnsafeMutableBufferPointer { d in
            MPI_Allgatherv(s.baseAddress, Int32(data.count), cmpi_byte(), r.baseAddress, c.baseAddress, d.baseAddress,
                           cmpi_byte(), comm)
          }
        }
      }
    }
    try check(code2, "MPI_Allgatherv of \(total) bytes")
    return (0..<size).map { Data(received[Int(displacements[$0])..<Int(displacements[$0] + counts[$0])]) }
  }

  private func check(_ code: Int32, _ what: String) throws {
    guard code != cmpi_success() else { return }
    throw MPIError("rank \(rank): \(what) failed: \(Self.message(code)) (another rank probably died)")
  }

  static func message(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
    var length: Int32 = 0
    MPI_Error_string(code, &buffer, &length)
    return String(cString: buffer)
  }
}

/// A one-line error from MPI.
public struct MPIError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description.onOneLine }
}
#endif
