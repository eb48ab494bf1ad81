import Autograd
import Foundation
import GPT
import SAE
import Tensor
import Testing
@testable import Training

/// In-process ranks for data-parallel tests: each rank runs on its own thread with a `FakeCommunicator`
/// of one `FakeJob`; collectives meet at a condition variable and add contributions in rank order (so
/// every rank gets the same bits, as MPI's allreduce gives on two ranks).
final class FakeJob {
  let size: Int
  private let condition = NSCondition()
  private var slots: [Any?]
  private var arrived = 0
  private var generation = 0
  private var results: [Any] = []

  init(size: Int) {
    self.size = size
    slots = [Any?](repeating: nil, count: size)
  }

  /// Every rank's `value`, in rank order, once all ranks have called.
  func exchange(rank: Int, _ value: Any) -> [Any] {
    condition.lock()
    defer { condition.unlock() }
    let mine = generation
    slots[rank] = value
    arrived += 1
    if arrived == size {
      results = slots.map { $0! }
      slots = [Any?](repeating: nil, count: size)
      arrived = 0
      generation += 1
      condition.broadcast()
    } else {
      while generation == mine { condition.wait() }
    }
    return results
  }

  /// Runs `body(rank, communicator)` on `size` threads and returns their results in rank order; the first
  /// error thrown by a rank is rethrown.
  func run<T>(_ body: @escaping (Int, FakeCommunicator) throws -> T) throws -> [T] {
    let outcomes = Box<[Result<T, Error>?]>([Result<T, Error>?](repeating: nil, count: size))
    let lock = NSLock()
    let done = DispatchGroup()
    for rank in 0..<size {
      done.enter()
      let thread = Thread {
        let outcome = Result { try body(rank, FakeCommunicator(job: self, rank: rank)) }
        lock.lock(); outcomes.values[rank] = outcome; lock.unlock()
        done.leave()
      }
      thread.stackSize = 8 << 20
      thread.start()
    }
    done.wait()
    return try outcomes.values.map { try $0!.get() }
  }
}

/// A value shared with threads (guarded by the caller's lock).
final class Box<Value>: @unchecked Sendable {
  var values: Value
  init(_ values: Value) { self.values = values }
}

final class FakeCommunicator: Communicator {
  let job: FakeJob
  let rank: Int
  var size: Int { job.size }
  /// Number of float allreduces (training steps) seen.
  private(set) var floatReductions = 0
  init(job: FakeJob, rank: Int) {
    self.job = job
    self.rank = rank
  }
  func allreduceSum(_ buffer: inout [Float]) throws {
    floatReductions += 1
    let all = job.exchange(rank: rank, buffer).map { $0 as! [Float] }
    guard all.allSatisfy({ $0.count == buffer.count }) else { throw TrainingError("allreduce counts differ across ranks") }
    buffer = all.dropFirst().reduce(all[0]) { zip($0, $1).map { $0 + $1 } }
  }
  func allreduceSum(_ buffer: inout [Double]) throws {
    let all = job.exchange(rank: rank, buffer).map { $0 as! [Double] }
    guard all.allSatisfy({ $0.count == buffer.count }) else { throw TrainingError("allreduce counts differ across ranks") }
    buffer = all.dropFirst().reduce(all[0]) { zip($0, $1).map { $0 + $1 } }
  }
  func broadcast(_ data: Data, root: Int) throws -> Data { job.exchange(rank: rank, data)[root] as! Data }
  func allgather(_ data: Data) throws -> [Data] { job.exchange(rank: rank, data).map { $0 as! Data } }
}

/// Data-parallel training (`DataParallel`) without MPI: the single-process communicator changes nothing, and
/// two in-process ranks with half batches train the parameters one process trains with whole batches.
@Suite(.serialized) struct DataParallelTests {
  typealias Workspace = GPTTrainerTests.Workspace

  /// Largest |a − b| over parameters, skipping the key third of each attention's c_attn bias: the loss does
  /// not depend on it (softmax is invariant to a per-query constant), so its exact gradient is zero and
  /// AdamW turns rounding noise there into updates of ±lr whose sign is arbitrary.
  static func maxDifference(_ a: [(String, Variable)], _ b: [(String, Variable)], nEmbd: Int) -> Float {
    var worst: Float = 0
    for ((name, pa), (_, pb)) in zip(a, b) {
      let x = pa.value.scalars, y = pb.value.scalars
      for i in x.indices {
        if name.hasSuffix("attn.c_attn.bias") && (nEmbd..<(2 * nEmbd)).contains(i) { continue }
        worst = max(worst, abs(x[i] - y[i]))
      }
    }
    return worst
  }

  /// (loss, norm) of each train.log line.
  static func trainValues(_ lines: [String]) -> [(Float, Float)] {
    lines.map { line in
      let f = Dictionary(uniqueKeysWithValues: GPTTrainerTests.fields(line))
      return (Float(f["loss"]!)!, Float(f["norm"]!)!)
    }
  }

  @Test func singleProcessCommunicatorChangesNothing() throws {
    let w = try Workspace()
    let a = try w.trainer(w.config("plain"))
    let b = try w.trainer(w.config("single"))
    try b.distribute(over: DataParallel(communicator: SingleProcessCommunicator()))
    try a.train()
    try b.train()
    #expect(zip(a.model.parameters, b.model.parameters).allSatisfy { $0.value == $1.value })
    #expect(try w.lines("plain", "train.log").map { $0.replacingOccurrences(of: #"\| dt .*"#, with: "", options: .regularExpression) }
            == w.lines("single", "train.log").map { $0.replacingOccurrences(of: #"\| dt .*"#, with: "", options: .regularExpression) })
  }

  /// 2 ranks × batch 4 give the losses, norms and parameters of 1 process × batch 8 after 6 steps; with
  /// twice the eval batches (each rank reads half of every window) the evaluations agree too. Only rank 0
  /// writes; the resume state holds both ranks' positions.
  @Test func twoRanksWithHalfBatchesEqualOneProcessWithWholeBatches() throws {
    let w = try Workspace()
    var single = w.config("single", maxSteps: 6, evalInterval: 3, logInterval: 1, batchSize: 8)
    single.evalSteps = 2
    let one = try w.trainer(single)
    try one.train()

    var half = w.config("dp", maxSteps: 6, evalInterval: 3, logInterval: 1, batchSize: 4)
    half.evalSteps = 4
    let job = FakeJob(size: 2)
    let ranks = try job.run { rank, communicator -> (GPTTrainer, Int) in
      let t = try w.trainer(half)
      try t.distribute(over: DataParallel(communicator: communicator))
      try t.train()
      return (t, communicator.floatReductions)
    }
    // One float allreduce per step.
    #expect(ranks.map(\.1) == [6, 6])
    let (r0, r1) = (ranks[0].0, ranks[1].0)
    #expect(zip(r0.model.parameters, r1.model.parameters).allSatisfy { $0.value == $1.value }, "ranks diverged")
    let diff = Self.maxDifference(r0.model.namedParameters, one.model.namedParameters, nEmbd: GPTTrainerTests.architecture.nEmbd)
    print(String(format: "2 ranks × B/2 vs 1 × B after 6 steps: max |Δ parameter| %.2e", diff))
    #expect(diff < 1e-4)
    let a = Self.trainValues(try w.lines("dp", "train.log")), b = Self.trainValues(try w.lines("single", "train.log"))
    #expect(a.count == 6 && b.count == 6)
    for (x, y) in zip(a, b) {
      #expect(abs(x.0 - y.0) <= 2e-4 && abs(x.1 - y.1) <= 2e-4 * max(1, y.1), "train lines \(x) vs \(y)")
    }
    let evalA = try w.lines("dp", "eval.log").map { GPTTrainerTests.fields($0).first { $0.0 == "loss" }!.1 }
    let evalB = try w.lines("single", "eval.log").map { GPTTrainerTests.fields($0).first { $0.0 == "loss" }!.1 }
    #expect(evalA == evalB)
    let state = try JSONSerialization.jsonObject(with: Data(contentsOf: w.checkpoints.appendingPathComponent("dp/resume/state.json"))) as! [String: Any]
    let positions = try #require(state["trainPositions"] as? [[String: Int]])
    #expect(positions.count == 2 && positions[1]["cursor"]! - positions[0]["cursor"]! == 4 * GPTTrainerTests.architecture.blockSize)
  }

  /// A 2-rank run stopped at step 4 and resumed by 2 ranks ends bit-identical to an uninterrupted 2-rank
  /// run (each rank continues from its own recorded position); resuming with another world size is refused.
  @Test func resumeUnderTwoRanksIsBitIdentical() throws {
    let w = try Workspace()
    let c = { (name: String) in w.config(name, maxSteps: 8, evalInterval: 4, batchSize: 4) }
    func job(_ name: String, stopAfter: Int? = nil, resume: Bool = false) throws -> [GPTTrainer] {
      try FakeJob(size: 2).run { _, communicator in
        let t = try w.trainer(c(name))
        try t.distribute(over: DataParallel(communicator: communicator))
        try t.train(resume: resume, stopAfter: stopAfter)
        return t
      }
    }
    let whole = try job("whole")
    _ = try job("parts", stopAfter: 4)
    let resumed = try job("parts", resume: true)
    #expect(zip(whole[0].model.parameters, resumed[0].model.parameters).allSatisfy { $0.value == $1.value })
    #expect(zip(whole[1].model.parameters, resumed[1].model.parameters).allSatisfy { $0.value == $1.value })
    let alone = try w.trainer(c("parts"))
    #expect(throws: TrainingError.self) { try alone.train(resume: true) }
  }

  /// A stop request on one rank stops both after the same step, with the resume state written by rank 0.
  @Test func aStopRequestOnOneRankStopsEveryRankAtTheSameStep() throws {
    let w = try Workspace()
    let outcomes = try FakeJob(size: 2).run { rank, communicator -> String in
      let t = try w.trainer(w.config("stop", maxSteps: 10, evalInterval: 5, batchSize: 4))
      let parallel = DataParallel(communicator: communicator)
      var calls = 0
      parallel.localStopRequest = {
        calls += 1
        return rank == 1 && calls >= 3 ? SIGTERM : nil
      }
      try t.distribute(over: parallel)
      do {
        try t.train()
        return "finished"
      } catch let e as StopError {
        return "\(e.exitCode)"
      }
    }
    #expect(outcomes == ["\(128 + SIGTERM)", "\(128 + SIGTERM)"])
    let state = try JSONSerialization.jsonObject(with: Data(contentsOf: w.checkpoints.appendingPathComponent("stop/resume/state.json"))) as! [String: Any]
    #expect(state["step"] as? Int == 3)
  }

  /// The SAE trainer (concurrent, TopK): 2 ranks × batch 1 equal 1 process × batch 2.
  @Test func saeTrainerTwoRanksEqualOneProcess() throws {
    let w = try SAETrainingWorkspace()
    var single = w.config(TestSAEModels.topK, name: "single", maxSteps: 4)
    single.batchSize = 2
    single.logInterval = 1
    let one = try w.trainer(single)
    try one.train()
    var half = w.config(TestSAEModels.topK, name: "dp", maxSteps: 4)
    half.logInterval = 1
    half.evalSteps = 2
    let ranks = try FakeJob(size: 2).run { _, communicator -> ConcurrentSAETrainer in
      let t = try w.trainer(half)
      try t.distribute(over: DataParallel(communicator: communicator))
      try t.train()
      return t
    }
    #expect(ranks[0].finalMetrics != nil && ranks[1].finalMetrics == nil)
    var worst: Float = 0
    for ((name, a), (_, b)) in zip(ranks[0].trainedParameters, one.trainedParameters) {
      worst = max(worst, a.value.maxAbsDifference(b.value))
      #expect(a.value.maxAbsDifference(b.value) < 1e-4, "\(name)")
    }
    print(String(format: "SAE trainer, 2 ranks × B/2 vs 1 × B after 4 steps: max |Δ parameter| %.2e", worst))
    let evalA = try w.evalLines("dp"), evalB = try w.evalLines("single")
    #expect(evalA.count == evalB.count)
    for (x, y) in zip(evalA, evalB) {
      let fx = GPTTrainerTests.fields(x), fy = GPTTrainerTests.fields(y)
      #expect(fx.map(\.0) == fy.map(\.0))
      for ((_, vx), (_, vy)) in zip(fx, fy) {
        let nx = vx.split(separator: " ").compactMap { Float($0) }, ny = vy.split(separator: " ").compactMap { Float($0) }
        #expect(nx.count == ny.count && zip(nx, ny).allSatisfy { abs($0 - $1) <= 2e-4 * max(1, abs($1)) }, "\(x) vs \(y)")
      }
    }
  }

  @Test func accumulationAndEvaluationBatchesAreDividedAmongRanks() throws {
    let results = try FakeJob(size: 2).run { _, communicator -> [String] in
      let p = DataParallel(communicator: communicator)
      var out = [try p.localAccumulation(4), try p.localAccumulation(1), try p.localBatches(5)].map(String.init)
      do { _ = try p.localAccumulation(3) } catch { out.append("\(error)") }
      do { _ = try p.localBatches(1) } catch { out.append("\(error)") }
      return out
    }
    #expect(results[0].prefix(3) == ["2", "1", "3"] && results[1].prefix(3) == ["2", "1", "2"])
    #expect(results[0][3].contains("not divisible by the world size 2") && results[0][4].contains("smaller than the world size 2"))
  }

  @Test func positionsTravelExactlyInTheFloatBuffer() {
    var buffer = [Float](repeating: 0, count: 8)
    for value in [0, 1, 65_535, 65_536, 16_777_217, 123_456_789_012, Int(Int32.max) * 5] {
      DataParallel.encode(value, into: &buffer, at: 2)
      #expect(DataParallel.decode(buffer, at: 2) == value)
    }
  }

  @Test func rankZerosValueReachesEveryRankAndItsErrorsToo() throws {
    let values = try FakeJob(size: 2).run { rank, communicator -> [String] in
      let p = DataParallel(communicator: communicator)
      let v = try p.fromWriter { "from rank \(rank)" }
      var out = [v]
      do { _ = try p.fromWriter { () throws -> Int in throw TrainingError("bad\nfile") } } catch { out.append("\(error)") }
      return out
    }
    #expect(values[0] == ["from rank 0", "bad file"] && values[1] == values[0])
  }
}
