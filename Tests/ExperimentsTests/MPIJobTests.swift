import Foundation
import GPT
import SAE
import Tensor
import Testing
import TestSupport
import Training

/// The tools built with the package trait `MPI`, in the directory `GPTCIRCUITS_MPI_TOOLS` names
/// (`.ci/run` builds them: `swift build --traits MPI --scratch-path .build-mpi-ci` and sets it), and mpirun.
enum MPITools {
  static let names = ["train-gpt", "train-sae", "attribute", "ablate"]
  static let directory: URL? = ProcessInfo.processInfo.environment["GPTCIRCUITS_MPI_TOOLS"].map { URL(fileURLWithPath: $0) }
  static let mpirun: URL? = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
    .map { URL(fileURLWithPath: String($0)).appendingPathComponent("mpirun") }
    .first { FileManager.default.isExecutableFile(atPath: $0.path) }

  static var available: Bool {
    guard let directory, mpirun != nil else { return false }
    return names.allSatisfy { FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent($0).path) }
  }

  static var missing: String {
    if mpirun == nil { return "mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev)" }
    return "GPTCIRCUITS_MPI_TOOLS does not name a directory holding \(names.joined(separator: ", ")) built with `--traits MPI` (.ci/run builds them)"
  }

  /// mpirun's options for these tests: root is allowed (CI runs as root), more ranks than cores, no pinning.
  static let options = ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]

  static func tool(_ name: String) -> String { directory!.appendingPathComponent(name).path }

  /// Runs `arguments` (a program and its arguments) and returns its status and output.
  @discardableResult
  static func run(_ executable: String, _ arguments: [String], timeout: Double = 600) throws -> (status: Int32, stdout: String, stderr: String, seconds: Double) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let dir = FileManager.default.temporaryDirectory
    let outURL = dir.appendingPathComponent("mpi-out-\(UUID().uuidString)"), errURL = dir.appendingPathComponent("mpi-err-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: outURL); try? FileManager.default.removeItem(at: errURL) }
    let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    let start = Date()
    try process.run()
    while process.isRunning && Date().timeIntervalSince(start) < timeout { usleep(20_000) }
    if process.isRunning { process.terminate(); process.waitUntilExit() }
    try? out.close(); try? err.close()
    return (process.terminationStatus, try String(contentsOf: outURL, encoding: .utf8), try String(contentsOf: errURL, encoding: .utf8),
            Date().timeIntervalSince(start))
  }

  /// `mpirun -np n tool args…`.
  @discardableResult
  static func mpirun(_ n: Int, _ name: String, _ arguments: [String], timeout: Double = 600) throws -> (status: Int32, stdout: String, stderr: String, seconds: Double) {
    try run(mpirun!.path, options + ["-np", "\(n)", tool(name)] + arguments, timeout: timeout)
  }
}

/// The tools under `mpirun -np 2` against one process (issue 15): 2 ranks × B/2 train the parameters of
/// 1 process × B (train-gpt and the concurrent SAE trainer), a resumed 2-rank run is bit-identical to an
/// uninterrupted one, attribute and ablate write the files of one process, mismatched command lines and a killed rank end
/// the job with an error naming the ranks. Skipped when the MPI tools or mpirun are missing, except in CI;
/// run by the debug test run only.
@Suite(.serialized,
       .enabled(if: !BuildConfiguration.optimised, "the MPI jobs run in the debug test run only (they run the same MPI-built tools either way)"),
       SharedData.required(MPITools.available, MPITools.missing))
struct MPIJobTests {
  /// Synthetic train/val shards over 128 ids (a noisy chain) in `<root>/data`.
  static func workspace(_ label: String) throws -> URL {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("mpi-\(label)-\(UUID().uuidString)")
    let data = root.appendingPathComponent("data")
    try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
    var g = RandomGenerator(seed: 17)
    func tokens(_ n: Int) -> [UInt16] {
      var out: [UInt16] = [], prev = 0
      for _ in 0..<n {
        prev = (prev * 5 + 3 + g.nextInt(below: 3)) % 128
        out.append(UInt16(prev))
      }
      return out
    }
    try NPY.write(NPYArray(shape: [40_000], data: .uint16(tokens(40_000))), to: data.appendingPathComponent("train_000000.npy"))
    try NPY.write(NPYArray(shape: [5_000], data: .uint16(tokens(5_000))), to: data.appendingPathComponent("val_000000.npy"))
    return root
  }

  static func gptArguments(_ root: URL, name: String, batch: Int, evalSteps: Int, steps: Int = 4) -> [String] {
    ["--config", "shakespeare_64x4", "--gpt-config", "ascii_64x4", "--data-dir", root.appendingPathComponent("data").path,
     "--checkpoints-dir", root.appendingPathComponent("checkpoints").path, "--name", name, "--max-steps", "\(steps)",
     "--warmup-steps", "1", "--eval-interval", "2", "--log-interval", "1", "--gradient-accumulation-steps", "1",
     "--learning-rate", "1e-3", "--batch-size", "\(batch)", "--eval-steps", "\(evalSteps)"]
  }

  static func tensors(_ url: URL) throws -> [String: Tensor] { try SafeTensors.read(contentsOf: url).tensors }

  /// Largest difference over the tensors, skipping the key third of c_attn biases (no effect on the loss,
  /// so AdamW turns rounding noise there into ±lr steps of arbitrary sign; see DataParallelTests).
  static func maxDifference(_ a: [String: Tensor], _ b: [String: Tensor], nEmbd: Int) throws -> Float {
    try #require(Set(a.keys) == Set(b.keys))
    var worst: Float = 0
    for (name, x) in a {
      let xs = x.scalars, ys = b[name]!.scalars
      for i in xs.indices {
        if name.hasSuffix("attn.c_attn.bias") && (nEmbd..<(2 * nEmbd)).contains(i) { continue }
        worst = max(worst, abs(xs[i] - ys[i]))
      }
    }
    return worst
  }

  static func logValues(_ url: URL, _ key: String) throws -> [Float] {
    try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map { line in
      let field = line.components(separatedBy: " | ").first { $0.hasPrefix(key + " ") }!
      return Float(field.dropFirst(key.count + 1))!
    }
  }

  @Test func trainGPTTwoRanksWithHalfBatchesEqualOneProcess() throws {
    let root = try Self.workspace("gpt")
    defer { try? FileManager.default.removeItem(at: root) }
    let one = try MPITools.run(MPITools.tool("train-gpt"), Self.gptArguments(root, name: "one", batch: 4, evalSteps: 2))
    #expect(one.status == 0, "\(one.stderr)")
    let two = try MPITools.mpirun(2, "train-gpt", Self.gptArguments(root, name: "two", batch: 2, evalSteps: 4) + ["--json"])
    #expect(two.status == 0, "\(two.stderr)")
    // Only rank 0 prints the summary.
    #expect(two.stdout.split(separator: "\n").count == 1, "\(two.stdout)")
    let ck = root.appendingPathComponent("checkpoints")
    let diff = try Self.maxDifference(Self.tensors(ck.appendingPathComponent("one/resume/model.safetensors")),
                                      Self.tensors(ck.appendingPathComponent("two/resume/model.safetensors")), nEmbd: 64)
    print(String(format: "train-gpt, mpirun -np 2 × B/2 vs 1 process × B after 4 steps: max |Δ parameter| %.2e", diff))
    #expect(diff < 1e-4)
    for key in ["loss", "norm"] {
      let a = try Self.logValues(ck.appendingPathComponent("one/train.log"), key)
      let b = try Self.logValues(ck.appendingPathComponent("two/train.log"), key)
      #expect(a.count == 4 && zip(a, b).allSatisfy { abs($0 - $1) <= 2e-4 }, "\(key): \(a) vs \(b)")
    }
    #expect(try Self.logValues(ck.appendingPathComponent("one/eval.log"), "loss") == Self.logValues(ck.appendingPathComponent("two/eval.log"), "loss"))
  }

  @Test func resumeUnderMpirunIsBitIdentical() throws {
    let root = try Self.workspace("resume")
    defer { try? FileManager.default.removeItem(at: root) }
    let whole = try MPITools.mpirun(2, "train-gpt", Self.gptArguments(root, name: "whole", batch: 2, evalSteps: 2, steps: 6))
    #expect(whole.status == 0, "\(whole.stderr)")
    let first = try MPITools.mpirun(2, "train-gpt", Self.gptArguments(root, name: "parts", batch: 2, evalSteps: 2, steps: 6) + ["--stop-after", "3"])
    #expect(first.status == 0, "\(first.stderr)")
    let second = try MPITools.mpirun(2, "train-gpt", Self.gptArguments(root, name: "parts", batch: 2, evalSteps: 2, steps: 6) + ["--resume"])
    #expect(second.status == 0, "\(second.stderr)")
    let ck = root.appendingPathComponent("checkpoints")
    for file in ["resume/model.safetensors", "resume/optimizer.safetensors", "model.safetensors"] {
      #expect(try Data(contentsOf: ck.appendingPathComponent("whole/\(file)")) == Data(contentsOf: ck.appendingPathComponent("parts/\(file)")), "\(file)")
    }
    // One process cannot continue a 2-rank state.
    let alone = try MPITools.run(MPITools.tool("train-gpt"), Self.gptArguments(root, name: "parts", batch: 2, evalSteps: 2, steps: 8) + ["--resume"])
    #expect(alone.status != 0 && alone.stderr.contains("written by 2 process(es)"), "\(alone.stderr)")
  }

  @Test func trainSAETwoRanksWithHalfBatchesEqualOneProcess() throws {
    let root = try Self.workspace("sae")
    defer { try? FileManager.default.removeItem(at: root) }
    let gpt = root.appendingPathComponent("gpt")
    try GPTCheckpoint.save(try GPT(config: GPTConfig.preset("ascii_64x4")!, seed: 5), to: gpt)
    func arguments(_ name: String, batch: Int, evalSteps: Int) -> [String] {
      ["--config", "topk.shakespeare_64x4", "--load-from", gpt.path, "--data-dir", root.appendingPathComponent("data").path,
       "--checkpoints-dir", root.appendingPathComponent("checkpoints").path, "--name", name, "--max-steps", "4",
       "--warmup-steps", "1", "--eval-interval", "2", "--log-interval", "1", "--gradient-accumulation-steps", "1",
       "--batch-size", "\(batch)", "--eval-steps", "\(evalSteps)"]
    }
    let one = try MPITools.run(MPITools.tool("train-sae"), arguments("one", batch: 4, evalSteps: 2))
    #expect(one.status == 0, "\(one.stderr)")
    let two = try MPITools.mpirun(2, "train-sae", arguments("two", batch: 2, evalSteps: 4))
    #expect(two.status == 0, "\(two.stderr)")
    let ck = root.appendingPathComponent("checkpoints")
    let diff = try Self.maxDifference(Self.tensors(ck.appendingPathComponent("one/resume/sae.safetensors")),
                                      Self.tensors(ck.appendingPathComponent("two/resume/sae.safetensors")), nEmbd: 64)
    print(String(format: "train-sae (topk), mpirun -np 2 × B/2 vs 1 process × B after 4 steps: max |Δ parameter| %.2e", diff))
    #expect(diff < 1e-4)
    let a = try Self.logValues(ck.appendingPathComponent("one/eval.log"), "ce_loss")
    let b = try Self.logValues(ck.appendingPathComponent("two/eval.log"), "ce_loss")
    #expect(a.count == 3 && a == b, "\(a) vs \(b)")
  }

  /// Both methods: 5 batches over 2 ranks (rank 0 gets 3) give the bytes of one process (same thread count:
  /// the ranks are not pinned, so each has the cores of the machine, as the single process does).
  @Test(arguments: ["ig", "ablation"])
  func attributeUnderTwoRanksWritesTheFileOfOneProcess(_ method: String) throws {
    let w = try ToolTests.workspace()
    defer { try? FileManager.default.removeItem(at: w.root) }
    func arguments(_ out: URL) -> [String] {
      ["--checkpoint", w.checkpoint.path, "--data-dir", w.data.path, "--method", method, "--steps", "3", "--batches", "5",
       "--batch-size", "2", "--output", out.path]
    }
    let a = w.root.appendingPathComponent("one.safetensors"), b = w.root.appendingPathComponent("two.safetensors")
    let one = try MPITools.run(MPITools.tool("attribute"), arguments(a))
    #expect(one.status == 0, "\(one.stderr)")
    let two = try MPITools.mpirun(2, "attribute", arguments(b))
    #expect(two.status == 0, "\(two.stderr)")
    #expect(try Data(contentsOf: a) == Data(contentsOf: b))
  }

  @Test func ablateUnderTwoRanksWritesTheFilesOfOneProcess() throws {
    let w = try ToolTests.workspace()
    defer { try? FileManager.default.removeItem(at: w.root) }
    func arguments(_ out: URL) -> [String] {
      ["--checkpoint", w.checkpoint.path, "--selection", "random", "--data-dir", w.data.path, "--edges", "1,2,3,5,8",
       "--prompts", "2", "--sequence-length", "12", "--out", out.path, "--json"]
    }
    let dirA = w.root.appendingPathComponent("one"), dirB = w.root.appendingPathComponent("two")
    let one = try MPITools.run(MPITools.tool("ablate"), arguments(dirA))
    #expect(one.status == 0, "\(one.stderr)")
    let two = try MPITools.mpirun(2, "ablate", arguments(dirB))
    #expect(two.status == 0, "\(two.stderr)")
    #expect(one.stdout == two.stdout)
    let files = try FileManager.default.contentsOfDirectory(atPath: dirA.path).filter { !$0.hasPrefix(".") }.sorted()
    #expect(files.count == 20)
    #expect(try FileManager.default.contentsOfDirectory(atPath: dirB.path).filter { !$0.hasPrefix(".") }.sorted() == files)
    for name in files {
      var a = try Data(contentsOf: dirA.appendingPathComponent(name)), b = try Data(contentsOf: dirB.appendingPathComponent(name))
      if name.hasSuffix(".json") {
        // Sidecars differ only in their timestamps, execution times and output paths.
        func normalised(_ d: Data) -> Data {
          Data(String(decoding: d, as: UTF8.self)
            .replacingOccurrences(of: #""timestamp" *: *"[^"]*""#, with: "", options: .regularExpression)
            .replacingOccurrences(of: #""execution_time" *: *[-+0-9.eE]+"#, with: "", options: .regularExpression)
            .replacingOccurrences(of: "/one/", with: "/").replacingOccurrences(of: "/two/", with: "/").utf8)
        }
        a = normalised(a); b = normalised(b)
      }
      #expect(a == b, "\(name)")
    }
  }

  @Test func mismatchedCommandLinesEndTheJobWithOneLineNamingTheRanks() throws {
    let root = try Self.workspace("mismatch")
    defer { try? FileManager.default.removeItem(at: root) }
    let r = try MPITools.run(MPITools.mpirun!.path, MPITools.options
      + ["-np", "1", MPITools.tool("train-gpt")] + Self.gptArguments(root, name: "m", batch: 2, evalSteps: 2)
      + [":", "-np", "1", MPITools.tool("train-gpt")] + Self.gptArguments(root, name: "m", batch: 4, evalSteps: 2), timeout: 120)
    #expect(r.status != 0)
    let lines = r.stderr.split(separator: "\n").filter { $0.contains("different command lines") }
    #expect(lines.count == 1 && lines[0].contains("ranks 0 and 1") && lines[0].contains("--batch-size 2") && lines[0].contains("--batch-size 4"), "\(r.stderr)")
    #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("checkpoints/m/train.log").path))
  }

  /// The default build (no trait) refuses to run as one of several ranks, with one line saying how to build.
  /// Each rank's stderr is read from its own file (`--output-filename`): on mpirun's own stderr the ranks'
  /// lines and mpirun's banner interleave, at times in the middle of a line.
  @Test func aToolBuiltWithoutTheTraitRefusesToRunUnderMpirun() throws {
    let plain = try ToolRunner.url("train-gpt")
    let root = try Self.workspace("plain")
    defer { try? FileManager.default.removeItem(at: root) }
    let outputs = root.appendingPathComponent("rank-output")
    let r = try MPITools.run(MPITools.mpirun!.path, MPITools.options + ["--output-filename", outputs.path, "-np", "2", plain.path]
      + Self.gptArguments(root, name: "p", batch: 2, evalSteps: 2), timeout: 120)
    #expect(r.status != 0)
    // <outputs>/<job>/rank.<n>/stderr, one per rank
    let files = (FileManager.default.enumerator(atPath: outputs.path)?.compactMap { $0 as? String } ?? [])
      .filter { $0.hasSuffix("/stderr") && $0.contains("rank.") }
    #expect(files.count == 2, "\(files) \(r.stderr)")
    for file in files {
      let text = (try? String(contentsOf: outputs.appendingPathComponent(file), encoding: .utf8)) ?? ""
      let lines = text.split(separator: "\n")
      #expect(lines.count == 1 && lines[0].contains("built without MPI support") && lines[0].contains("--traits MPI"), "\(file): \(text)")
    }
    #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("checkpoints/p").path))
  }

  /// The train-gpt processes of the job whose command line mentions `root`, by rank.
  static func ranks(of root: URL) -> [Int: Int32] {
    var out: [Int: Int32] = [:]
    for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
      guard let pid = Int32(name), let environ = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(name)/environ")),
            let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(name)/exe"), exe.hasSuffix("/train-gpt"),
            let cmdline = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(name)/cmdline")),
            String(decoding: cmdline, as: UTF8.self).contains(root.path) else { continue }
      for variable in environ.split(separator: 0).map({ String(decoding: $0, as: UTF8.self) })
      where variable.hasPrefix("OMPI_COMM_WORLD_RANK=") {
        if let rank = Int(variable.dropFirst("OMPI_COMM_WORLD_RANK=".count)) { out[rank] = pid }
      }
    }
    return out
  }

  /// Starts a 2-rank `train-gpt` job that would run for 100,000 steps (to be signalled or killed), its standard
  /// error going to `root/stderr`.
  static func startLongGPTJob(_ root: URL, name: String) throws -> (Process, FileHandle, URL) {
    let process = Process()
    process.executableURL = MPITools.mpirun!
    process.arguments = MPITools.options + ["-np", "2", MPITools.tool("train-gpt")]
      + gptArguments(root, name: name, batch: 2, evalSteps: 2, steps: 100_000)
    let errURL = root.appendingPathComponent("stderr")
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let err = try FileHandle(forWritingTo: errURL)
    process.standardError = err
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    return (process, err, errURL)
  }

  /// SIGTERM to every rank (not to mpirun) stops them after the same step with the resume state written, rank 0
  /// alone reporting it; `--resume` under mpirun continues from there.
  @Test func signallingTheRanksStopsTheJobWithItsResumeState() throws {
    let root = try Self.workspace("signal")
    defer { try? FileManager.default.removeItem(at: root) }
    let (process, err, errURL) = try Self.startLongGPTJob(root, name: "s")
    let log = root.appendingPathComponent("checkpoints/s/train.log")
    let start = Date()
    while ((try? String(contentsOf: log, encoding: .utf8))?.split(separator: "\n").count ?? 0) < 3 && Date().timeIntervalSince(start) < 120 {
      usleep(50_000)
    }
    let ranks = Self.ranks(of: root)
    try #require(ranks.count == 2, "ranks not found: \(ranks)")
    for pid in ranks.values { kill(pid, SIGTERM) }
    let signalled = Date()
    while process.isRunning && Date().timeIntervalSince(signalled) < 60 { usleep(20_000) }
    if process.isRunning { process.terminate() }
    process.waitUntilExit()
    try? err.close()
    let stderr = try String(contentsOf: errURL, encoding: .utf8)
    #expect(process.terminationStatus == 128 + SIGTERM, "\(stderr)")
    #expect(stderr.components(separatedBy: "continue with --resume").count == 2, "\(stderr)")
    let state = try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("checkpoints/s/resume/state.json"))) as! [String: Any]
    let step = try #require(state["step"] as? Int)
    #expect((state["trainPositions"] as? [Any])?.count == 2)
    let lines = try String(contentsOf: log, encoding: .utf8).split(separator: "\n")
    #expect(lines.last?.contains("step \(step) |") == true, "resume state of step \(step), log ends \(lines.last ?? "")")
    let resumed = try MPITools.mpirun(2, "train-gpt", Self.gptArguments(root, name: "s", batch: 2, evalSteps: 2, steps: 100_000)
      + ["--resume", "--stop-after", "\(step + 2)"])
    #expect(resumed.status == 0, "\(resumed.stderr)")
    #expect(try String(contentsOf: log, encoding: .utf8).split(separator: "\n").last?.contains("step \(step + 2) |") == true)
  }

  /// SIGKILL of rank 1 mid-run ends the job within seconds (no hang) with mpirun naming the rank; the
  /// checkpoint and resume state written before stay readable.
  @Test func aKilledRankEndsTheJobAndKeepsTheLastCheckpoint() throws {
    let root = try Self.workspace("kill")
    defer { try? FileManager.default.removeItem(at: root) }
    let (process, err, errURL) = try Self.startLongGPTJob(root, name: "k")
    let state = root.appendingPathComponent("checkpoints/k/resume/state.json")
    let start = Date()
    while !FileManager.default.fileExists(atPath: state.path) && Date().timeIntervalSince(start) < 120 { usleep(50_000) }
    try #require(FileManager.default.fileExists(atPath: state.path), "no resume state after 120 s")
    // Rank 1: the train-gpt process whose environment says OMPI_COMM_WORLD_RANK=1.
    var rank1: Int32?
    for name in try FileManager.default.contentsOfDirectory(atPath: "/proc") {
      guard let pid = Int32(name), let environ = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(name)/environ")),
            let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(name)/exe"), exe.hasSuffix("/train-gpt") else { continue }
      let variables = environ.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
      let cmdline = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(name)/cmdline"))) ?? Data()
      if variables.contains("OMPI_COMM_WORLD_RANK=1") && String(decoding: cmdline, as: UTF8.self).contains(root.path) { rank1 = pid }
    }
    let victim = try #require(rank1, "rank 1 not found")
    let killed = Date()
    kill(victim, SIGKILL)
    while process.isRunning && Date().timeIntervalSince(killed) < 30 { usleep(20_000) }
    let ended = !process.isRunning
    if !ended { process.terminate() }
    process.waitUntilExit()
    try? err.close()
    let stderr = try String(contentsOf: errURL, encoding: .utf8)
    print(String(format: "killed rank 1: the job ended after %.1f s", Date().timeIntervalSince(killed)))
    #expect(ended, "the job still ran 30 s after rank 1 was killed")
    #expect(process.terminationStatus != 0)
    #expect(stderr.contains("rank 1"), "\(stderr)")
    // What was written before stays whole: the resume state and the best checkpoint load.
    #expect(throws: Never.self) { try SafeTensors.read(contentsOf: root.appendingPathComponent("checkpoints/k/resume/model.safetensors")) }
    #expect(throws: Never.self) { try GPTCheckpoint.load(from: root.appendingPathComponent("checkpoints/k")) }
  }
}
