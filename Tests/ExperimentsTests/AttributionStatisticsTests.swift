import Foundation
import Tensor
import Testing
@testable import Experiments

@Suite struct AttributionStatisticsTests {
  @Test func sharesAndDiagonalByHand() {
    // Squares 9, 0 / 0, 16 / 1, 0: total 26; diagonal (rows 0 and 1) 9 + 16 = 25.
    let m = Tensor(shape: [3, 2], scalars: [3, 0, 0, -4, 1, 0])
    let s = AttributionStatistics(matrix: m)
    #expect(s.edges == 6 && s.nonzeroEdges == 3 && s.squaredTotal == 26)
    #expect(abs(s.diagonalShare - 25.0 / 26) < 1e-12)
    // Largest first: 16 ≥ 50% of 26; 16 + 9 = 25 ≥ 90% (23.4); 26 ≥ 99% (25.74) needs the third edge.
    #expect(s.edgesForShare == [0.5: 1, 0.9: 2, 0.99: 3])
  }

  @Test func emptyMatrixHasNoMass() {
    let s = AttributionStatistics(matrix: Tensor(shape: [2, 3], repeating: 0))
    #expect(s.squaredTotal == 0 && s.diagonalShare == 0 && s.nonzeroEdges == 0)
    #expect(s.edgesForShare == [0.5: 0, 0.9: 0, 0.99: 0])
  }

  @Test func wideMatrixDiagonalStopsAtTheSmallerSide() {
    // 2 × 4: diagonal entries (0,0) and (1,1) only.
    let m = Tensor(shape: [2, 4], scalars: [1, 0, 0, 2, 0, 1, 1, 1])
    let s = AttributionStatistics(matrix: m)
    #expect(abs(s.diagonalShare - 2.0 / 8) < 1e-12)
    // Squares 4, 1, 1, 1, 1 of 8: 4 ≥ 50% alone; 90% (7.2) needs all five.
    #expect(s.edgesForShare[0.5] == 1 && s.edgesForShare[0.9] == 5)
  }
}
