import Foundation
import Testing
import Tensor

/// Creation, value semantics and shape operations.
@Suite struct TensorCoreTests {
  // MARK: creation

  @Test func creation() {
    let z = Tensor.zeros([2, 3])
    #expect(z.shape == [2, 3] && z.rank == 2 && z.count == 6 && z.scalars == [Float](repeating: 0, count: 6))
    #expect(Tensor.ones([4]).scalars == [1, 1, 1, 1])
    #expect(Tensor.full([2, 2], -2.5).scalars == [-2.5, -2.5, -2.5, -2.5])
    #expect(Tensor(shape: [3], repeating: 0).scalars == [0, 0, 0])
    let s = Tensor(scalar: 3.5)
    #expect(s.shape == [] && s.count == 1 && s.scalar == 3.5 && s.rank == 0)
    let t = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
    #expect(t[0, 0] == 1 && t[0, 2] == 3 && t[1, 0] == 4 && t[1, 2] == 6)
    #expect(Tensor([1, 2, 3]).shape == [3])
    let empty = Tensor(zeros: [0, 4])
    #expect(empty.count == 0 && empty.scalars.isEmpty && empty.shape == [0, 4])
  }

  @Test func arange() {
    #expect(Tensor.arange(0, 5).scalars == [0, 1, 2, 3, 4])
    #expect(Tensor.arange(1, 3, step: 0.5).scalars == [1, 1.5, 2, 2.5])
    #expect(Tensor.arange(5, 0, step: -2).scalars == [5, 3, 1])
    #expect(Tensor.arange(0, 1, step: 0.25).count == 4)
    #expect(Tensor.arange(3, 3).count == 0)
  }

  @Test func subscriptWriteAndEquality() {
    var t = Tensor.zeros([2, 2, 2])
    t[1, 0, 1] = 7
    #expect(t.scalars == [0, 0, 0, 0, 0, 7, 0, 0])
    var u = Tensor.zeros([2, 2, 2])
    #expect(t != u)
    u[1, 0, 1] = 7
    #expect(t == u)
    #expect(t != t.reshaped([4, 2]))  // equal values, different shape
  }

  // MARK: value semantics

  @Test func copyOnWriteSubscript() {
    let a = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])
    var b = a
    #expect(b.sharesStorage(with: a))
    b[0, 1] = 9
    #expect(!b.sharesStorage(with: a))
    #expect(a.scalars == [1, 2, 3, 4])
    #expect(b.scalars == [1, 9, 3, 4])
  }

  @Test func copyOnWriteInPlaceMethods() {
    let a = Tensor(shape: [3], scalars: [1, 2, 3])
    var b = a; b.fill(5)
    var c = a; c.addInPlace(Tensor([1, 1, 1]), alpha: 2)
    var d = a; d.scaleInPlace(-1)
    var e = a; e.withUnsafeMutableBufferPointer { $0[2] = 0 }
    var f = a; f.unsafeMutablePointer()[0] = 42
    var g = a; g += Tensor([10, 10, 10])
    #expect(a.scalars == [1, 2, 3])
    #expect(b.scalars == [5, 5, 5])
    #expect(c.scalars == [3, 4, 5])
    #expect(d.scalars == [-1, -2, -3])
    #expect(e.scalars == [1, 2, 0])
    #expect(f.scalars == [42, 2, 3])
    #expect(g.scalars == [11, 12, 13])
  }

  @Test func uniqueStorageIsMutatedInPlace() {
    var a = Tensor(shape: [4], scalars: [1, 2, 3, 4])
    let before = a.unsafePointer
    a.scaleInPlace(2)
    a[1] = 0
    #expect(a.unsafePointer == before)
    #expect(a.scalars == [2, 0, 6, 8])
  }

  @Test func reshapeSharesStorageUntilMutated() {
    let a = Ref.iota([2, 3])
    var r = a.reshaped([3, 2])
    #expect(r.sharesStorage(with: a))
    #expect(a.reshaped([-1]).shape == [6])
    #expect(a.reshaped([3, -1]).shape == [3, 2])
    r[0, 0] = -1
    #expect(a.scalars == [1, 2, 3, 4, 5, 6])
    #expect(r.scalars == [-1, 2, 3, 4, 5, 6])
    #expect(a.permuted([0, 1]).sharesStorage(with: a))  // identity permutation is not copied
    #expect(!a.permuted([1, 0]).sharesStorage(with: a))
    var s = a
    s.setShape([6, 1])
    #expect(s.shape == [6, 1] && a.shape == [2, 3] && s.sharesStorage(with: a))
  }

  // MARK: shape operations

  @Test(arguments: [
    ([2, 3, 4], [2, 0, 1]), ([2, 3, 4], [1, 0, 2]), ([2, 3, 4], [0, 2, 1]), ([5, 1, 3], [2, 1, 0]),
    ([2, 3, 2, 3], [3, 1, 0, 2]), ([7], [0]), ([3, 5], [1, 0]),
  ])
  func permute(shape: [Int], axes: [Int]) {
    let t = Ref.iota(shape)
    let p = t.permuted(axes)
    #expect(p == Ref.permute(t, axes))
  }

  @Test func transpose() {
    let t = Ref.iota([2, 3, 4])
    #expect(t.transposed() == Ref.permute(t, [0, 2, 1]))
    #expect(t.transposed(0, 2) == Ref.permute(t, [2, 1, 0]))
    #expect(t.transposed(-3, 1) == Ref.permute(t, [1, 0, 2]))
    let m = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
    #expect(m.transposed().scalars == [1, 4, 2, 5, 3, 6])
  }

  @Test func sliceAndAssignSlice() {
    let t = Ref.iota([2, 3, 4])
    let s = t.slice(axis: 1, 1..<3)
    #expect(s.shape == [2, 2, 4])
    for i in 0..<2 { for j in 0..<2 { for k in 0..<4 { #expect(s[i, j, k] == t[i, j + 1, k]) } } }
    #expect(t.slice(axis: -1, 3..<4).scalars == [4, 8, 12, 16, 20, 24])
    #expect(t.slice(axis: 0, 1..<1).shape == [0, 3, 4])

    var u = Tensor.zeros([2, 3, 4])
    u.assignSlice(axis: 2, start: 1, Tensor.ones([2, 3, 2]))
    for i in 0..<2 { for j in 0..<3 { for k in 0..<4 { #expect(u[i, j, k] == ((1...2).contains(k) ? 1 : 0)) } } }
    let copy = u
    u.assignSlice(axis: 0, start: 1, Tensor.full([1, 3, 4], 9))
    #expect(copy[1, 0, 0] == 0 && u[1, 0, 0] == 9)  // COW through assignSlice
  }

  @Test func concatenateStackSplit() {
    let a = Ref.iota([2, 1, 3]), b = Ref.iota([2, 2, 3]).scaled(10)
    let c = Tensor.concatenate([a, b], axis: 1)
    #expect(c.shape == [2, 3, 3])
    #expect(c.slice(axis: 1, 0..<1) == a && c.slice(axis: 1, 1..<3) == b)
    let c0 = Tensor.concatenate([a, a.scaled(2)], axis: 0)
    #expect(c0.scalars == a.scalars + a.scaled(2).scalars)
    let cLast = Tensor.concatenate([a, a], axis: -1)
    #expect(cLast.shape == [2, 1, 6] && cLast[1, 0, 4] == a[1, 0, 1])

    let parts = c.split(axis: 1, sizes: [1, 2])
    #expect(parts.count == 2 && parts[0] == a && parts[1] == b)
    #expect(c.split(axis: 2, sizes: [3, 0])[1].shape == [2, 3, 0])

    let x = Ref.iota([2, 3]), y = x.scaled(-1)
    let s0 = Tensor.stack([x, y], axis: 0)
    #expect(s0.shape == [2, 2, 3] && s0.slice(axis: 0, 1..<2).reshaped([2, 3]) == y)
    let s2 = Tensor.stack([x, y], axis: -1)
    #expect(s2.shape == [2, 3, 2])
    for i in 0..<2 { for j in 0..<3 { #expect(s2[i, j, 0] == x[i, j] && s2[i, j, 1] == y[i, j]) } }
    let s1 = Tensor.stack([x, y, x], axis: 1)
    #expect(s1.shape == [2, 3, 3] && s1[1, 1, 2] == y[1, 2] && s1[0, 2, 1] == x[0, 1] && s1[1, 0, 0] == x[1, 0])
  }

  @Test(arguments: [
    ([3], [2, 3]), ([1], [4]), ([2, 1], [2, 3]), ([1, 3], [2, 3]), ([4, 1], [2, 4, 3]), ([2, 1, 3], [2, 4, 3]),
    ([], [2, 2]), ([2, 3], [2, 3]),
  ])
  func expand(from: [Int], to: [Int]) {
    let t = Ref.iota(from)
    let e = t.expanded(to: to)
    #expect(e.shape == to)
    let n = to.reduce(1, *)
    for i in 0..<n { #expect(e.scalars[i] == Ref.broadcastRead(t, Ref.unravel(i, to))) }
  }

  @Test(arguments: [
    ([2, 3], [3]), ([2, 3], [1, 3]), ([2, 3], [2, 1]), ([2, 3], []), ([2, 3], [1]), ([2, 4, 3], [4, 1]),
    ([2, 4, 3], [2, 1, 3]), ([2, 4, 3], [1, 1, 1]), ([2, 3], [2, 3]),
  ])
  func sumToShape(from: [Int], to: [Int]) {
    // Adjoint of broadcasting: ⟨expand(y), g⟩ = ⟨y, sumToShape(g)⟩ for every y; checked against explicit sums.
    let g = Ref.random(from, seed: 3)
    let r = g.sumToShape(to)
    #expect(r.shape == to)
    var expect = [Double](repeating: 0, count: to.reduce(1, *))
    for i in 0..<g.count {
      let idx = Ref.unravel(i, from)
      let off = from.count - to.count
      let target = (0..<to.count).map { to[$0] == 1 ? 0 : idx[$0 + off] }
      expect[Ref.ravel(target, to)] += Double(g.scalars[i])
    }
    #expect(Ref.maxAbsDiff(r.scalars, expect.map { Float($0) }) < 1e-6)
  }

  @Test func intTensor() {
    let t = IntTensor(shape: [2, 3], scalars: [0, 1, 2, 3, 4, 5])
    #expect(t[1, 2] == 5 && t.rank == 2 && t.count == 6)
    #expect(t.reshaped([3, 2])[2, 0] == 4)
    #expect(t.rows(1..<2).scalars == [3, 4, 5] && t.rows(1..<2).shape == [1, 3])
    #expect(t.asFloat.scalars == [0, 1, 2, 3, 4, 5] && t.asFloat.shape == [2, 3])
    #expect(IntTensor(zeros: [2]).scalars == [0, 0])
  }

  @Test func descriptionIsOneLine() {
    let d = Ref.iota([3, 10]).description
    #expect(d.hasPrefix("Tensor(shape: [3, 10]") && !d.contains("\n") && d.contains("…"))
  }
}
