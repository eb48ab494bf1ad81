import Testing
@testable import Tensor

/// `LinearKernel.backward`'s row blocks against whole-batch products, and its weight and bias gradients'
/// independence of the thread count.
@Suite struct LinearKernelBackwardTests {
  struct Operands {
    let x: Tensor, w: Tensor, dy: Tensor
    init(rows: Int, inF: Int, outF: Int, seed: UInt64) {
      var g = RandomGenerator(seed: seed)
      x = Tensor.normal([rows, inF], generator: &g)
      w = Tensor.normal([outF, inF], std: 0.3, generator: &g)
      dy = Tensor.normal([rows, outF], generator: &g)
    }
  }

  @Test func chunksDependOnTheRowCountAlone() {
    #expect(RowChunkSums.chunkRows(1) == 256 && RowChunkSums.chunks(1) == 1 && RowChunkSums.chunks(0) == 1)
    #expect(RowChunkSums.chunkRows(1024) == 256 && RowChunkSums.chunks(1024) == 4)
    #expect(RowChunkSums.chunkRows(16384) == 1024 && RowChunkSums.chunks(16384) == 16)
    #expect(RowChunkSums.chunkRows(16385) == 1280 && RowChunkSums.chunks(16385) == 13)
  }

  @Test func blocksFitTheCache() {
    #expect(LinearKernel.backwardRowBlock(inFeatures: 64, outFeatures: 192) == 256)
    #expect(LinearKernel.backwardRowBlock(inFeatures: 256, outFeatures: 256) == 128)
    #expect(LinearKernel.backwardRowBlock(inFeatures: 1 << 16, outFeatures: 1) == 16)
    for (i, o) in [(1, 1), (64, 64), (300, 7), (4096, 4096)] {
      for n in [1, 300, 16384] { #expect(RowChunkSums.chunkRows(n) % LinearKernel.backwardRowBlock(inFeatures: i, outFeatures: o) == 0) }
    }
    #expect(LinearKernel.blockedBackwardSuits(inFeatures: 64, outFeatures: 192))
    #expect(!LinearKernel.blockedBackwardSuits(inFeatures: 768, outFeatures: 3072))
  }

  /// Rows: one, a ragged block, several blocks, more than one chunk.
  @Test(arguments: [1, 37, 300, 2125])
  func matchesWholeBatchProducts(rows: Int) throws {
    let o = Operands(rows: rows, inF: 24, outF: 40, seed: UInt64(rows))
    let r = LinearKernel.backward(o.dy, x: o.x, weight: o.w, inputGradient: true, biasGradient: true)
    let dx = Tensor.matmul(o.dy, o.w), dw = Tensor.matmul(o.dy, o.x, transposeA: true), db = o.dy.sum(axis: 0)
    let errors = [Ref.maxScaledDiff(try #require(r.dx), dx), Ref.maxScaledDiff(r.dWeight, dw),
                  Ref.maxScaledDiff(try #require(r.dBias), db)]
    #expect(errors.allSatisfy { $0 < 2e-6 }, "rows \(rows): relative errors dx, dW, db \(errors)")
    let onlyWeight = LinearKernel.backward(o.dy, x: o.x, weight: o.w, inputGradient: false, biasGradient: false)
    #expect(onlyWeight.dx == nil && onlyWeight.dBias == nil)
    let sameWeight = onlyWeight.dWeight.scalars == r.dWeight.scalars
    #expect(sameWeight)
  }

  /// Chunk by chunk (each call a single chunk on one thread), the partials added in order: the bits of the
  /// parallel run.
  @Test func weightGradientDoesNotDependOnTheThreadCount() {
    let rows = 3 * 256 + 9, inF = 16, outF = 48
    #expect(RowChunkSums.chunks(rows) == 4)
    let o = Operands(rows: rows, inF: inF, outF: outF, seed: 5)
    let whole = LinearKernel.backward(o.dy, x: o.x, weight: o.w, inputGradient: false, biasGradient: false).dWeight
    var sum: Tensor? = nil
    for lo in stride(from: 0, to: rows, by: 256) {
      let n = min(256, rows - lo)
      let x = Tensor(shape: [n, inF], scalars: Array(o.x.scalars[(lo * inF)..<((lo + n) * inF)]))
      let dy = Tensor(shape: [n, outF], scalars: Array(o.dy.scalars[(lo * outF)..<((lo + n) * outF)]))
      let part = LinearKernel.backward(dy, x: x, weight: o.w, inputGradient: false, biasGradient: false).dWeight
      sum = sum.map { $0 + part } ?? part
    }
    let same = whole.scalars == sum!.scalars
    #expect(same)
  }

  @Test func noRowsGiveZeroGradients() throws {
    let o = Operands(rows: 0, inF: 4, outF: 3, seed: 1)
    let r = LinearKernel.backward(o.dy, x: o.x, weight: o.w, inputGradient: true, biasGradient: true)
    #expect(r.dx?.shape == [0, 4])
    #expect(r.dWeight.shape == [3, 4] && r.dWeight.scalars.allSatisfy { $0 == 0 })
    #expect(try #require(r.dBias).scalars == [0, 0, 0])
  }
}
