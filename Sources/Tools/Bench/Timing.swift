import Foundation

/// Wall-clock seconds from a monotonic clock.
func now() -> Double {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Median seconds per call of `body` after `warmup` calls, over at least `minRuns` runs and ~`budget` seconds.
func measure(warmup: Int = 2, minRuns: Int = 5, budget: Double = 1.0, _ body: () -> Void) -> Double {
  measureSpread(warmup: warmup, minRuns: minRuns, budget: budget, body).median
}

/// The median and the fastest seconds per call of `body`, measured as `measure` does.
func measureSpread(warmup: Int = 2, minRuns: Int = 5, budget: Double = 1.0, _ body: () -> Void) -> (median: Double, fastest: Double) {
  for _ in 0..<warmup { body() }
  var times: [Double] = []
  let start = now()
  while times.count < minRuns || (now() - start < budget && times.count < 1000) {
    let t0 = now()
    body()
    times.append(now() - t0)
  }
  return (median(times), times.min()!)
}

/// Median seconds per call of `first` and of `second`, called in turn (after `warmup` calls of each) for at
/// least `minRuns` pairs and ~`budget` seconds, so that the machine's drift falls on both alike.
func measureAlternating(warmup: Int = 2, minRuns: Int = 5, budget: Double = 2.0,
                        _ first: () -> Void, _ second: () -> Void) -> (first: Double, second: Double) {
  for _ in 0..<warmup { first(); second() }
  var firstTimes: [Double] = [], secondTimes: [Double] = []
  let start = now()
  while firstTimes.count < minRuns || (now() - start < budget && firstTimes.count < 1000) {
    let t0 = now()
    first()
    let t1 = now()
    second()
    firstTimes.append(t1 - t0)
    secondTimes.append(now() - t1)
  }
  return (median(firstTimes), median(secondTimes))
}

/// One row of the benchmark report.
struct BenchResult: Codable {
  var name: String
  var milliseconds: Double
  /// Achieved GFLOP/s (nil when the row is bandwidth-bound and reported in GB/s).
  var gflops: Double?
  var gbPerSecond: Double?
  /// Achieved GFLOP/s divided by the in-process 2048³ sgemm rate.
  var fractionOfSgemm: Double?
  var note: String?
}

/// The middle value of `values` (the upper of the two middle ones for an even count).
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
