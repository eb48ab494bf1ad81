import Dispatch
import Foundation

/// Splits loops over the machine's cores.
public enum Parallel {
  /// Number of worker threads used by tensor kernels (the number of online cores, at least 1).
  public static let threadCount: Int = Swift.max(1, ProcessInfo.processInfo.activeProcessorCount)

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
