import Testing
@testable import Tensor

/// `FeedForwardKernel`'s fused row blocks against the unfused composition (`referenceForward`,
/// `referenceBackward`): outputs bit for bit, gradients to Float round-off; and its gradients' independence of
/// the thread count.
@Suite struct FeedForwardKernelTests {
  struct Operands {
    let x: Tensor, w1: Tensor, b1: Tensor?, w2: Tensor, b2: Tensor?, dy: Tensor
    init(rows: Int, c: Int, h: Int, biases: Bool = true, seed: UInt64) {
      var g = RandomGenerator(seed: seed)
      x = Tensor.normal([rows, c], generator: &g)
      w1 = Tensor.normal([h, c], std: 0.3, generator: &g)
      b1 = biases ? Tensor.normal([h], std: 0.5, generator: &g) : nil
      w2 = Tensor.normal([c, h], std: 0.2, generator: &g)
      b2 = biases ? Tensor.normal([c], std: 0.1, generator: &g) : nil
      dy = Tensor.normal([rows, c], generator: &g)
    }
  }

  @Test func rowBlocksFitTheCacheAndDivideAChunk() {
    #expect(FeedForwardKernel.rowBlock(hidden: 256) == 256)
    #expect(FeedForwardKernel.rowBlock(hidden: 512) == 128)
    #expect(FeedForwardKernel.rowBlock(hidden: 3072) == 16)
    #expect(FeedForwardKernel.rowBlock(hidden: 1 << 20) == 16)
    for h in [1, 64, 256, 300, 1024, 3072] {
      for n in [1, 300, 5000, 16384, 100_000] { #expect(RowChunkSums.chunkRows(n) % FeedForwardKernel.rowBlock(hidden: h) == 0) }
    }
  }

  /// Rows: one, fewer than a block, a block and a bit, and more than one chunk of partial sums with a
  /// ragged last block. Within one block the products are the reference's own calls: the same bits. Over many
  /// blocks OpenBLAS may take other kernels for a block than for the whole product (its small-matrix kernels):
  /// round-off apart.
  @Test(arguments: [1, 37, 256, 300, 2125])
  func forwardMatchesTheComposition(rows: Int) {
    for biases in [true, false] {
      let o = Operands(rows: rows, c: 16, h: 64, biases: biases, seed: UInt64(rows))
      let (y, cache) = FeedForwardKernel.forward(o.x, fcWeight: o.w1, fcBias: o.b1, projWeight: o.w2, projBias: o.b2)
      let (ry, rcache) = FeedForwardKernel.referenceForward(o.x, fcWeight: o.w1, fcBias: o.b1, projWeight: o.w2, projBias: o.b2)
      #expect(y.shape == [rows, 16] && cache.hidden.shape == [rows, 64])
      let setting = "rows \(rows), biases \(biases)"
      if rows <= FeedForwardKernel.rowBlock(hidden: 64) {
        let same = y.scalars == ry.scalars && cache.hidden.scalars == rcache?.hidden.scalars
        #expect(same, "\(setting): bits differ")
      } else {
        let err = Ref.maxScaledDiff(y, ry), herr = Ref.maxScaledDiff(cache.hidden, rcache!.hidden)
        #expect(err < 1e-6 && herr < 1e-6, "\(setting): relative errors \(err) (output), \(herr) (hidden)")
      }
    }
  }

  @Test(arguments: [1, 37, 300, 2125])
  func backwardMatchesTheComposition(rows: Int) throws {
    let o = Operands(rows: rows, c: 16, h: 64, seed: 100 + UInt64(rows))
    let (_, cache) = FeedForwardKernel.forward(o.x, fcWeight: o.w1, fcBias: o.b1, projWeight: o.w2, projBias: o.b2)
    let fused = FeedForwardKernel.backward(o.dy, x: o.x, fcWeight: o.w1, projWeight: o.w2, cache: cache)
    let ref = FeedForwardKernel.referenceBackward(o.dy, x: o.x, fcWeight: o.w1, projWeight: o.w2, cache: cache)
    let pairs: [(String, Tensor?, Tensor?)] = [("dx", fused.input, ref.input),("dW1", fused.fcWeight, ref.fcWeight), ("db1", fused.fcBias, ref.fcBias),
                                              ("dW2", fused.projWeight, ref.projWeight), ("db2", fused.projBias, ref.projBias)]
    for (name, a, b) in pairs {
      let err = Ref.maxScaledDiff(try #require(a), try #require(b))
      #expect(err < 2e-6 * Float(max(1, rows / 64)).squareRoot() + 1e-6, "\(name): relative error \(err) at \(rows) rows")
    }
  }

  @Test func backwardComputesOnlyWhatIsNeeded() throws {
    let o = Operands(rows: 70, c: 8, h: 32, seed: 7)
    let (_, cache) = FeedForwardKernel.forward(o.x, fcWeight: o.w1, fcBias: o.b1, projWeight: o.w2, projBias: o.b2)
    let all = FeedForwardKernel.backward(o.dy, x: o.x, fcWeight: o.w1, projWeight: o.w2, cache: cache)
    let inputOnly = FeedForwardKernel.backward(o.dy, x: o.x, fcWeight: o.w1, projWeight: o.w2, cache: cache,
                                               needs: .init(input: true, fcWeight: false, fcBias: false, projWeight: false, projBias: false))
    let same = inputOnly.input?.scalars == all.input?.scalars
    #expect(same)
    #expect(inputOnly.fcWeight == nil && inputOnly.fcBias == nil && inputOnly.projWeight == nil && inputOnly.projBias == nil)
    let weightsOnly = FeedForwardKernel.backward(o.dy, x: o.x, fcWeight: o.w1, projWeight: o.w2, cache: cache,
                                                 needs: .init(input: false))
    #expect(weightsOnly.input == nil)
    let sameWeights = weightsOnly.fcWeight?.scalars == all.fcWeight?.scalars && weightsOnly.projWeight?.scalars == all.projWeight?.scalars
    let sameBiases = weightsOnly.fcBias?.scalars == all.fcBias?.scalars && weightsOnly.projBias?.scalars == all.projBias?.scalars
    #expect(sameWeights && sameBiases)
  }

  /// The gradients are summed per fixed chunk of rows and the chunks added in order, so running the chunks one
  /// after another on one thread gives the bits of the parallel run.
  @Test func gradientsDoNotDependOnTheThreadCount() throws {
    let rows = 3 * 256 + 5
    #expect(RowChunkSums.chunkRows(rows) == 256 && RowChunkSums.chunks(rows) == 4)
    let o = Operands(rows: rows, c: 16, h: 64, seed: 9)
    let (_, cache) = FeedForwardKernel.forward(o.x, fcWeight: o.w1, fcBias: o.b1, projWeight: o.w2, projBias: o.b2)
    let whole = FeedForwardKernel.backward(o.dy, x: o.x, fcWeight: o.w1, projWeight: o.w2, cache: cache)
    // One chunk at a time (each call has a single chunk, so it runs on one thread); partials added in order.
    var dW1 = Tensor(zeros: [64, 16]), dW2 = Tensor(zeros: [16, 64])
    var db1 = [Double](repeating: 0, count: 64), db2 = [Double](repeating: 0, count: 16)
    var first = true
    for lo in stride(from: 0, to: rows, by: 256) {
      let n = min(256, rows - lo)
      func part(_ t: Tensor) -> Tensor { Tensor(shape: [n, 16], scalars: Array(t.scalars[(lo * 16)..<((lo + n) * 16)])) }
      let hidden = Tensor(shape: [n, 64], scalars: Array(cache.hidden.scalars[(lo * 64)..<((lo + n) * 64)]))
      let g = FeedForwardKernel.backward(part(o.dy), x: part(o.x), fcWeight: o.w1, projWeight: o.w2,
                                         cache: .init(hidden: hidden), needs: .init(input: false))
      if first { dW1 = g.fcWeight!; dW2 = g.projWeight! } else { dW1 = dW1 + g.fcWeight!; dW2 = dW2 + g.projWeight! }
      first = false
      // the Double partials of one chunk, rounded to Float once, are not the chunk's exact Double sums: compare
      // the bias gradients to round-off only
      for j in 0..<64 { db1[j] += Double(g.fcBias!.scalars[j]) }
      for j in 0..<16 { db2[j] += Double(g.projBias!.scalars[j]) }
    }
    let sameFc = whole.fcWeight!.scalars == dW1.scalars, sameProj = whole.projWeight!.scalars == dW2.scalars
    #expect(sameFc && sameProj)
    #expect(Ref.maxScaledDiff(whole.fcBias!, Tensor(shape: [64], scalars: db1.map { Float($0) })) < 1e-6)
    #expect(Ref.maxScaledDiff(whole.projBias!, Tensor(shape: [16], scalars: db2.map { Float($0) })) < 1e-6)
  }

  @Test func emptyInputGivesZeroGradients() throws {
    let o = Operands(rows: 0, c: 4, h: 8, seed: 3)
    let (y, cache) = FeedForwardKernel.forward(o.x, fcWeight: o.w1, fcBias: o.b1, projWeight: o.w2, projBias: o.b2)
    #expect(y.shape == [0, 4])
    let g = FeedForwardKernel.backward(o.dy, x: o.x, fcWeight: o.w1, projWeight: o.w2, cache: cache)
    #expect(g.fcWeight!.scalars.allSatisfy { $0 == 0 } && g.projWeight!.scalars.allSatisfy { $0 == 0 })
    #expect(g.fcBias!.scalars.allSatisfy { $0 == 0 } && g.projBias!.scalars.allSatisfy { $0 == 0 })
  }
}
