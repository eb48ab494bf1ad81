import Tensor

extension TokenDataLoader {
  /// The results of `body` on the next `count` batches, in batch order, computing `body` once per distinct
  /// window: a window the loader returns again (it cycles through a split that holds fewer windows than
  /// `count`, as tinyshakespeare's val split holds 6 windows of 128×128 for 100 evaluation batches) reuses
  /// the result of its first occurrence. `body` must be a function of the batch alone (an evaluation of a
  /// fixed model); sums over the results are then the same, bit for bit, as computing every batch.
  /// The loader ends where `count` calls of `nextBatch()` would leave it.
  public mutating func mapBatches<Result>(_ count: Int, _ body: (_ x: IntTensor, _ y: IntTensor) throws -> Result) throws -> [Result] {
    var firstResult: [Position: Result] = [:]
    var results: [Result] = []
    results.reserveCapacity(count)
    for _ in 0..<count {
      if let seen = firstResult[position] {
        try skipBatch()
        results.append(seen)
        continue
      }
      let start = position
      let (x, y) = try nextBatch()
      let result = try body(x, y)
      firstResult[start] = result
      results.append(result)
    }
    return results
  }
}
