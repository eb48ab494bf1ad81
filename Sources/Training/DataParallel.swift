import Autograd
import Foundation
import Tensor

/// The processes of a data-parallel job, as training sees them: a rank among `size` processes and the few
/// collective operations training needs. Every process must call the collectives in the same order with
/// the same element counts. `SingleProcessCommunicator` is the one-process implementation; the MPI one
/// (module `MessagePassing`, built with the package trait `MPI`) is reachable only from the tools.
public protocol Communicator: AnyObject {
  /// This process's index, 0..<size.
  var rank: Int { get }
  /// Number of processes in the job.
  var size: Int { get }
  /// Sums `buffer` elementwise over all processes, in place.
  func allreduceSum(_ buffer: inout [Float]) throws
  /// Sums `buffer` elementwise over all processes, in place.
  func allreduceSum(_ buffer: inout [Double]) throws
  /// Rank `root`'s `data` on every process (other ranks' `data` is ignored).
  func broadcast(_ data: Data, root: Int) throws -> Data
  /// Every process's `data`, in rank order.
  func allgather(_ data: Data) throws -> [Data]
}

/// The communicator of a process that trains alone: rank 0 of 1; every collective returns its input.
public final class SingleProcessCommunicator: Communicator {
  public init() {}
  public var rank: Int { 0 }
  public var size: Int { 1 }
  public func allreduceSum(_ buffer: inout [Float]) throws {}
  public func allreduceSum(_ buffer: inout [Double]) throws {}
  public func broadcast(_ data: Data, root: Int) throws -> Data { data }
  public func allgather(_ data: Data) throws -> [Data] { [data] }
}

/// Data-parallel training over a `Communicator` (the reference's DDP, spec section 3): every rank reads its
/// own slice of each batch (the loader's rank offset), gradients are averaged with one allreduce per step over
/// one flat buffer (gradients, then the logged losses, a stop flag per rank and every rank's loader position),
/// gradient accumulation steps and evaluation batches are divided among the ranks, evaluations are averaged
/// over all of them, and only rank 0 (`isWriter`) writes logs, checkpoints and resume states.
public final class DataParallel {
  public let communicator: Communicator
  /// Polled by `reduceStep` on this rank: a signal number asks the whole job to stop after the current step.
  public var localStopRequest: () -> Int32? = { StopRequest.pending }
  /// The stop every rank agreed on in the latest step (the first rank's signal), nil while none was asked.
  public private(set) var agreedStop: Int32?

  /// Data parallelism over `communicator`.
  public init(communicator: Communicator) { self.communicator = communicator }

  /// One process alone.
  public static var single: DataParallel { DataParallel(communicator: SingleProcessCommunicator()) }

  public var rank: Int { communicator.rank }
  public var worldSize: Int { communicator.size }
  /// Whether this process writes the run's files (rank 0).
  public var isWriter: Bool { communicator.rank == 0 }

  /// Micro-batches each rank runs per optimisation step for `total` accumulation steps (the reference's
  /// `gradient_accumulation_steps // world_size`): `total / worldSize` when it divides; 1 when `total` is 1
  /// (each rank then runs one micro-batch and a step sees worldSize of them). Otherwise a one-line error.
  public func localAccumulation(_ total: Int) throws -> Int {
    let w = worldSize
    if total % w == 0 { return total / w }
    if total == 1 { return 1 }
    throw TrainingError("gradient_accumulation_steps \(total) is not divisible by the world size \(w) (use a multiple of \(w), or 1)")
  }

  /// How many of `total` evaluation batches this rank computes: batches rank, rank + W, rank + 2W, … (its
  /// loader reads exactly those windows). Throws when some rank would get none.
  public func localBatches(_ total: Int) throws -> Int {
    let w = worldSize
    guard total >= w else {
      throw TrainingError("eval_steps \(total) is smaller than the world size \(w); every rank needs at least one evaluation batch")
    }
    return (total - rank + w - 1) / w
  }

  /// This rank's train and val loaders over `dataDir` (its slice of every batch) and its logger's settings, after
  /// checking that `accumulation` steps and `evalSteps` batches divide among the ranks: what every trainer does to
  /// run as one rank of the job. Only the writer rank (0) echoes and writes its log.
  func rankLoaders(dataDir: String, batchSize: Int, sequenceLength: Int, accumulation: Int, evalSteps: Int,
                   logger: RunLogger) throws -> (train: TokenDataLoader, val: TokenDataLoader) {
    _ = try localAccumulation(accumulation)
    _ = try localBatches(evalSteps)
    let directory = URL(fileURLWithPath: dataDir)
    let train = try TokenDataLoader(directory: directory, split: .train, batchSize: batchSize, sequenceLength: sequenceLength,
                                    rank: rank, worldSize: worldSize)
    let val = try TokenDataLoader(directory: directory, split: .val, batchSize: batchSize, sequenceLength: sequenceLength,
                                  rank: rank, worldSize: worldSize)
    if !isWriter {
      logger.echo = false
      logger.writes = false
    }
    return (train, val)
  }

  /// The outcome of `reduceStep`.
  public struct StepResult {
    /// The losses averaged over the ranks.
    public var losses: [Float]
    /// Every rank's train-loader position after the step, in rank order.
    public var positions: [TokenDataLoader.Position]
  }

  /// Averages the gradients of `parameters` (a missing gradient counts as zeros) and the step's `losses` over
  /// all ranks with one allreduce, and exchanges every rank's loader `position` and stop request. With one
  /// process nothing is communicated and the gradients stay untouched.
  public func reduceStep(parameters: [Variable], losses: [Float], position: TokenDataLoader.Position) throws -> StepResult {
    let w = worldSize
    let local = localStopRequest()
    guard w > 1 else {
      agreedStop = local
      return StepResult(losses: losses, positions: [position])
    }
    let gradientCount = parameters.reduce(0) { $0 + $1.value.count }
    let positionsStart = gradientCount + losses.count + w
    var buffer = [Float](repeating: 0, count: positionsStart + w * 2 * Self.chunksPerInt)
    var offset = 0
    for p in parameters {
      let n = p.value.count
      if let g = p.grad {
        g.withUnsafeBufferPointer { src in
          buffer.withUnsafeMutableBufferPointer { dst in
            for i in 0..<n { dst[offset + i] = src[i] }
          }
        }
      }
      offset += n
    }
    for (i, v) in losses.enumerated() { buffer[gradientCount + i] = v }
    buffer[gradientCount + losses.count + rank] = Float(local ?? 0)
    let mine = positionsStart + rank * 2 * Self.chunksPerInt
    Self.encode(position.shard, into: &buffer, at: mine)
    Self.encode(position.cursor, into: &buffer, at: mine + Self.chunksPerInt)

    try communicator.allreduceSum(&buffer)

    let scale = 1 / Float(w)
    offset = 0
    for p in parameters {
      let n = p.value.count
      var g = Tensor(uninitialized: p.value.shape)
      g.withUnsafeMutableBufferPointer { dst in
        buffer.withUnsafeBufferPointer { src in
          for i in 0..<n { dst[i] = src[offset + i] * scale }
        }
      }
      p.grad = g
      offset += n
    }
    let averaged = (0..<losses.count).map { buffer[gradientCount + $0] * scale }
    agreedStop = (0..<w).lazy.map { Int32(buffer[gradientCount + losses.count + $0]) }.first { $0 != 0 }
    let positions = (0..<w).map { r -> TokenDataLoader.Position in
      let at = positionsStart + r * 2 * Self.chunksPerInt
      return TokenDataLoader.Position(shard: Self.decode(buffer, at: at), cursor: Self.decode(buffer, at: at + Self.chunksPerInt))
    }
    return StepResult(losses: averaged, positions: positions)
  }

  /// Sums `values` over the ranks (evaluation sums; one process: unchanged).
  public func sum(_ values: [Double]) throws -> [Double] {
    guard worldSize > 1 else { return values }
    var buffer = values
    try communicator.allreduceSum(&buffer)
    return buffer
  }

  /// The result of `work` run on rank 0 alone, on every rank (a JSON round trip). An error thrown on rank 0
  /// reaches every rank as the same one-line error. With one process, `work` simply runs.
  public func fromWriter<T: Codable>(_ work: () throws -> T) throws -> T {
    guard worldSize > 1 else { return try work() }
    var message = Data()
    if isWriter {
      do {
        message = try JSONEncoder().encode(Outcome(value: try work(), error: nil))
      } catch {
        message = try JSONEncoder().encode(Outcome<T>(value: nil, error: "\(error)"))
      }
    }
    let received = try JSONDecoder().decode(Outcome<T>.self, from: try communicator.broadcast(message, root: 0))
    if let error = received.error { throw TrainingError(error) }
    guard let value = received.value else { throw TrainingError("rank 0 sent no value") }
    return value
  }

  private struct Outcome<T: Codable>: Codable {
    var value: T?
    var error: String?
  }

  /// An integer travels as four 16-bit chunks, each exact in a Float sum with zeros.
  static let chunksPerInt = 4

  static func encode(_ value: Int, into buffer: inout [Float], at index: Int) {
    let v = UInt64(bitPattern: Int64(value))
    for c in 0..<chunksPerInt { buffer[index + c] = Float((v >> (16 * UInt64(c))) & 0xFFFF) }
  }

  static func decode(_ buffer: [Float], at index: Int) -> Int {
    var v: UInt64 = 0
    for c in 0..<chunksPerInt { v |= UInt64(buffer[index + c]) << (16 * UInt64(c)) }
    return Int(Int64(bitPattern: v))
  }
}
