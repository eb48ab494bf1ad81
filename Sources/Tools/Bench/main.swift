import ArgumentParser
import Autograd
import CommandSupport
import Foundation
import GPT
import Tensor
import Training

struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Measures sgemm, the fused kernels and training steps at shakespeare_64x4 sizes (release builds only).",
    discussion: """
      Every row reports the median time per call, the achieved GFLOP/s (or GB/s for bandwidth-bound kernels) \
      and the fraction of the 2048³ sgemm rate measured in the same process. OpenBLAS's kernels are the ones \
      it picks for the CPU, or the ones OPENBLAS_CORETYPE names; where OpenBLAS does not recognise the CPU \
      and falls back to its generic kernels, the Tensor module selects the ones for the CPU's vector units \
      (GPTCIRCUITS_KEEP_OPENBLAS_CORE=1 keeps the generic ones). The header names the kernels and how they \
      were chosen.
      """)

  @Option(help: "Comma-separated groups to run: sgemm, kernels (layer norm, GELU, feed-forward, linear backward, cross-entropy), attention, ceilings, gpt, sae (the TopK SAE step and its parts), jsae (the JSAE step and the Jacobian term's parts).")
  var only: String = "sgemm,kernels,attention,ceilings,gpt,sae,jsae"

  @Option(help: "Batch size for kernels and training steps.")
  var batchSize: Int = 128

  @Option(help: "Seconds to spend per measurement (at least 5 runs each).")
  var budget: Double = 1.0

  @Flag(help: "Print one JSON object on stdout instead of a table.")
  var json = false

  func run() throws {
    let groups = Set(only.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) })
    let known: Set<String> = ["sgemm", "kernels", "attention", "ceilings", "gpt", "sae", "jsae"]
    if let bad = groups.first(where: { !known.contains($0) }) {
      throw ValidationError("unknown group '\(bad)' (known: sgemm, kernels, attention, ceilings, gpt, sae, jsae)")
    }
    var results: [BenchResult] = []
    let peak = sgemmRate(2048, 2048, 2048)
    results.append(BenchResult(name: "sgemm 2048x2048x2048", milliseconds: peak.ms, gflops: peak.gflops,
                               fractionOfSgemm: 1, note: "reference rate"))
    let suite = BenchSuite(peakGflops: peak.gflops, batch: batchSize, budget: budget)
    if groups.contains("sgemm") { results += suite.sgemmShapes() }
    if groups.contains("kernels") { results += suite.kernels() }
    if groups.contains("attention") { results += suite.attention() }
    if groups.contains("ceilings") { results += suite.ceilings() }
    if groups.contains("gpt") { results += try suite.gptStep() }
    if groups.contains("sae") {
      results.append(try suite.saeStep(preset: "topk.shakespeare_64x4", label: "SAE topk.shakespeare_64x4 (5 × TopK 512)"))
      results += try suite.saeStepParts(preset: "topk.shakespeare_64x4")
    }
    if groups.contains("jsae") {
      results += try suite.jsaeStepPair(preset: "jsae.shakespeare_64x4", sparsity: 1e-3)
      results += try suite.jsaeStepParts(preset: "jsae.shakespeare_64x4")
    }
    report(results, peak: peak.gflops)
  }

  func report(_ results: [BenchResult], peak: Double) {
    let header: [String: String] = ["openblas_core": BLAS.coreName, "openblas_threads": "\(BLAS.threadCount)",
                                    "kernel_threads": "\(Parallel.threadCount)", "cpu_model": MachineInfo.cpuModel,
                                    "OPENBLAS_CORETYPE": ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "(unset)",
                                    "openblas_better_core": MachineInfo.betterOpenBLASCore ?? "(none)",
                                    "openblas_detected_core": BLAS.coreSelection.detected]
    if json {
      struct Out: Codable { var environment: [String: String]; var sgemmPeakGflops: Double; var results: [BenchResult] }
      let enc = JSONEncoder()
      enc.outputFormatting = [.sortedKeys]
      let data = try! enc.encode(Out(environment: header, sgemmPeakGflops: peak, results: results))
      print(String(decoding: data, as: UTF8.self))
      return
    }
    if let notice = MachineInfo.openBLASNotice { print(notice) }
    print("CPU \(MachineInfo.cpuModel); kernel threads \(Parallel.threadCount); OpenBLAS core \(BLAS.coreName), \(BLAS.threadCount) threads, OPENBLAS_CORETYPE=\(header["OPENBLAS_CORETYPE"]!)")
    print(pad("benchmark", 46) + pad("ms", 10, right: true) + pad("GFLOP/s", 10, right: true)
          + pad("GB/s", 9, right: true) + pad("×sgemm", 8, right: true) + "  note")
    for r in results {
      print(pad(r.name, 46) + pad(String(format: "%.3f", r.milliseconds), 10, right: true)
            + pad(r.gflops.map { String(format: "%.1f", $0) } ?? "", 10, right: true)
            + pad(r.gbPerSecond.map { String(format: "%.1f", $0) } ?? "", 9, right: true)
            + pad(r.fractionOfSgemm.map { String(format: "%.2f", $0) } ?? "", 8, right: true)
            + "  " + (r.note ?? ""))
    }
  }

  func pad(_ s: String, _ n: Int, right: Bool = false) -> String {
    s.count >= n ? s + " " : (right ? String(repeating: " ", count: n - s.count) + s : s + String(repeating: " ", count: n - s.count))
  }

  func sgemmRate(_ m: Int, _ n: Int, _ k: Int) -> (ms: Double, gflops: Double) {
    BenchSuite.sgemm(m, n, k, transposeA: false, transposeB: false, budget: budget)
  }
}

BenchCommand.main()
