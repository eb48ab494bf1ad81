import Dispatch
import Foundation

/// Splits loops over the machine's cores.
public enum Parallel {
  /// Number of worker threads used by tensor kernels: the cores this process may run on (its CPU affinity,
  /// so `taskset -c 0 train-sae …` runs on one core), at least 1.
  public static let threadCount: Int = Swift.max(1, allowedCores())

  /// The number of cores in the process's CPU affinity mask (Linux: the `Cpus_allowed` mask of
  /// /proc/self/status); the online cores where that is unavailable.
  static func allowedCores() -> Int {
    if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
       let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) {
      let mask = line.dropFirst("Cpus_allowed:".count)
      let count = mask.reduce(0) { n, c in n + (c.hexDigitValue?.nonzeroBitCount ?? 0) }
      if count > 0 { return count }
    }
    return ProcessInfo.processInfo.activeProcessorCount
  }

  /// Calls `body` on disjoint, contiguous sub-ranges covering `0..<count`, in parallel when each
  /// thread gets at least `grain` items; otherwise runs `body(0..<count)` on the calling thread.
  @inlinable
  public static func forRanges(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
    guard count > 0 else { return }
    let chunks = Swift.min(threadCount, Swift.max(1, count / Swift.max(grain, 1)))
    if chunks <= 1 {
      body(0..<count)
      return
    }
    withoutActuallyEscaping(body) { body in
      DispatchQueue.concurrentPerform(iterations: chunks) { c in
        let lo = count * c / chunks
        let hi = count * (c + 1) / chunks
        if lo < hi { body(lo..<hi) }
      }
    }
  }
}
