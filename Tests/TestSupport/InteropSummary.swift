import Autograd
import Testing
import Tensor

/// Reading the summaries that Tests/Fixtures/torch_interop.py records from PyTorch (token rows, loss and
/// logits at chosen positions) and comparing our outputs with them.
public enum InteropSummary {
  /// Token rows [[Int]] as an IntTensor [rows, T].
  public static func intRows(_ value: Any?, sourceLocation: SourceLocation = #_sourceLocation) throws -> IntTensor {
    let rows = try #require(value as? [[Int]], sourceLocation: sourceLocation)
    return IntTensor(shape: [rows.count, rows[0].count], scalars: rows.flatMap { $0.map(Int32.init) })
  }

  /// Largest |ours − recorded| over a summary's loss and its logits (per row: positions × V) for logits
  /// [B, T, V] and targets [B, T].
  public static func maxDifference(_ logits: Tensor, targets: IntTensor, summary: [String: Any],
                                   sourceLocation: SourceLocation = #_sourceLocation) throws -> Double {
    let loss = Double(Variable(logits).crossEntropy(targets: targets).value.scalar)
    var worst = abs(loss - (try #require(summary["loss"] as? Double, sourceLocation: sourceLocation)))
    let positions = try #require(summary["positions"] as? [Int], sourceLocation: sourceLocation)
    let recorded = try #require(summary["logits"] as? [[[Double]]], sourceLocation: sourceLocation)
    let (t, v) = (logits.shape[1], logits.shape[2])
    let ours = logits.scalars
    for (b, row) in recorded.enumerated() {
      for (pi, p) in positions.enumerated() {
        #expect(row[pi].count == v, sourceLocation: sourceLocation)
        for j in 0..<v { worst = max(worst, abs(Double(ours[(b * t + p) * v + j]) - row[pi][j])) }
      }
    }
    return worst
  }
}
