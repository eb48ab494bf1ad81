import Foundation
import Testing
import Tensor
import Autograd

/// The backward engine: accumulation, explicit upstream gradients, recording rules, graph lifetime.
@Suite struct EngineTests {
  @Test func gradientAccumulatesWhenAVariableIsUsedTwice() {
    let x = Variable(Tensor([1, -2, 3]), requiresGrad: true)
    (x * x + x).sum().backward()  // d/dx = 2x + 1
    #expect(x.grad?.scalars == [3, -3, 7])
    // diamond: y = exp(x) used by two branches
    let z = Variable(Tensor([0.5, 1]), requiresGrad: true)
    let y = z.exp()
    (y * 2 + y.square()).sum().backward()
    let e = [Foundation.exp(0.5), Foundation.exp(1.0)]
    #expect(Ref.close(z.grad!.scalars, e.map { Float(2 * $0 + 2 * $0 * $0) }, tol: 1e-6))
  }

  @Test func gradientsAccumulateAcrossBackwardCallsUntilZeroed() {
    let x = Variable(Tensor([1, 2]), requiresGrad: true)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    #expect(x.grad?.scalars == [6, 6])
    x.zeroGrad()
    #expect(x.grad == nil)
    (x * 3).sum().backward()
    #expect(x.grad?.scalars == [3, 3])
  }

  @Test func explicitUpstreamGradient() {
    let x = Variable(Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]), requiresGrad: true)
    let y = x.square()
    y.backward(gradient: Tensor(shape: [2, 2], scalars: [1, 0, -1, 0.5]))
    #expect(x.grad?.scalars == [2, 0, -6, 4])
    // backward() on a leaf seeds the leaf itself
    let s = Variable(Tensor(scalar: 2), requiresGrad: true)
    s.backward()
    #expect(s.grad?.scalar == 1)
  }

  @Test func noRecordingUnderNoGradOrWithoutGradInputs() {
    let x = Variable(Tensor([1, 2]), requiresGrad: true)
    let y = withNoGrad { (x * x).exp().sum() }
    #expect(y.isLeaf && !y.requiresGrad && y.operation == "leaf")
    #expect(GradMode.isEnabled)
    withNoGrad {
      #expect(!GradMode.isEnabled)
      let inner = withGrad { x * 2 }
      #expect(inner.requiresGrad && !inner.isLeaf)
    }
    let c = Variable(Tensor([1, 2]))  // requiresGrad false
    let z = (c * c).exp() + c
    #expect(z.isLeaf && !z.requiresGrad)
    z.backward(gradient: Tensor([1, 1]))  // a constant: nothing happens
    #expect(c.grad == nil)
    // mixed: only the input that requires a gradient receives one
    let m = c * x
    #expect(m.requiresGrad && m.operation == "mul")
    m.sum().backward()
    #expect(c.grad == nil && x.grad?.scalars == [1, 2])
  }

  @Test func detachCutsTheGraph() {
    let x = Variable(Tensor([1, 2]), requiresGrad: true)
    let y = x * 3
    let d = y.detached()
    #expect(d.isLeaf && !d.requiresGrad && d.value == y.value)
    (d * x).sum().backward()
    #expect(x.grad?.scalars == [3, 6])  // only the direct path: d is treated as a constant
  }

  @Test func longChainDoesNotOverflowTheStack() {
    let x = Variable(Tensor([1]), requiresGrad: true)
    var y = x
    for _ in 0..<20_000 { y = y * 1.0001 }
    y.sum().backward()
    let expected = Foundation.pow(1.0001, 20_000.0)
    #expect(abs(Double(x.grad!.scalar) - expected) < 1e-3 * expected)
  }

  @Test func longChainIsFreedWithoutBackward() {
    // A recorded chain dropped without backward (or kept with retainGraph) must be released without
    // recursing once per node.
    let x = Variable(Tensor([1]), requiresGrad: true)
    do {
      var y = x
      for _ in 0..<100_000 { y = y + 1 }
      #expect(y.value.scalar == 100_001)
    }
    do {
      var y = x
      for _ in 0..<100_000 { y = y + 1 }
      y.sum().backward(retainGraph: true)
    }
    #expect(x.grad?.scalar == 1)
  }

  @Test func retainGraphAllowsASecondBackward() {
    let x = Variable(Tensor([1, 2]), requiresGrad: true)
    let loss = (x.exp() * x).sum()
    loss.backward(retainGraph: true)
    let first = x.grad!
    loss.backward(retainGraph: true)
    #expect(Ref.close(x.grad!.scalars, first.scaled(2).scalars, tol: 1e-6))
    loss.backward()  // releases the graph
    #expect(Ref.close(x.grad!.scalars, first.scaled(3).scalars, tol: 1e-6))
    loss.backward()  // nothing left to traverse: gradients unchanged
    #expect(Ref.close(x.grad!.scalars, first.scaled(3).scalars, tol: 1e-6))
  }

  @Test func retainedIntermediateGradientsAreNotPropagatedTwice() {
    let x = Variable(Tensor([1, 2]), requiresGrad: true)
    let h = x * 2
    h.retainsGrad = true
    let loss = (h * h).sum()  // dL/dh = 2h = 4x, dL/dx = 8x
    loss.backward(retainGraph: true)
    #expect(h.grad?.scalars == [4, 8] && x.grad?.scalars == [8, 16])
    loss.backward(retainGraph: true)
    #expect(h.grad?.scalars == [8, 16])      // retained gradient accumulates…
    #expect(x.grad?.scalars == [16, 32])     // …but each pass propagates only its own
    // the root's retained gradient behaves the same way
    let y = Variable(Tensor([3]), requiresGrad: true)
    let r = y * 5
    r.retainsGrad = true
    r.backward(gradient: Tensor([1]), retainGraph: true)
    r.backward(gradient: Tensor([1]), retainGraph: true)
    #expect(r.grad?.scalars == [2] && y.grad?.scalars == [10])
  }

  @Test func intermediateGradientsAreNotKeptByDefault() {
    let x = Variable(Tensor([1, 2]), requiresGrad: true)
    let h = x.exp()
    let loss = h.sum()
    loss.backward()
    #expect(h.grad == nil && loss.grad == nil && x.grad != nil)
  }

  @Test func frozenLeavesGetNoGradient() {
    let w = Variable(Tensor([1, 2]), requiresGrad: true)
    w.setRequiresGrad(false)
    let x = Variable(Tensor([3, 4]), requiresGrad: true)
    (w * x).sum().backward()
    #expect(w.grad == nil && x.grad?.scalars == [1, 2])
  }

  @Test func leafAssignAndUpdate() {
    let w = Variable(Tensor([1, 2]), requiresGrad: true)
    w.assign(Tensor([5, 6]))
    #expect(w.value.scalars == [5, 6])
    w.updateValue { $0.scaleInPlace(2) }
    #expect(w.value.scalars == [10, 12] && w.shape == [2] && w.rank == 1)
    #expect(Tensor([1]).asVariable.isLeaf)
    #expect(w.description.hasPrefix("Variable(leaf"))
  }

  // MARK: the checker itself must be able to fail

  @Test func gradCheckCatchesWrongGradients() {
    let x = GradCheck.input([2, 3], seed: 5)
    let good = GradCheck.run("square", [x]) { $0[0].square() }
    #expect(good.passed)
    // 1% too large: caught by the relative tolerances
    let scaled = GradCheck.run("square ×1.01", [x]) { v in
      Variable.custom("bad_square", inputs: [v[0]], forward: { $0[0].unary(.square) },
                      backward: { g, t, _ in [g * t[0].scaled(2.02)] })
    }
    #expect(!scaled.passed)
    // one element wrong
    let oneOff = GradCheck.run("square, one element off", [x]) { v in
      Variable.custom("bad_square2", inputs: [v[0]], forward: { $0[0].unary(.square) },
                      backward: { g, t, _ in
                        var d = g * t[0].scaled(2)
                        d[1, 2] += 0.01
                        return [d]
                      })
    }
    #expect(!oneOff.passed)
    // a transposed gradient of the right shape
    let square = GradCheck.input([3, 3], seed: 6)
    let transposed = GradCheck.run("transposed gradient", [square]) { v in
      Variable.custom("bad_t", inputs: [v[0]], forward: { $0[0].unary(.exp) }, backward: { g, _, out in [(g * out).transposed()] })
    }
    #expect(!transposed.passed)
    // a missing gradient
    let missing = GradCheck.run("missing", [x, x], wrt: [0, 1]) { v in
      Variable.custom("drop", inputs: [v[0], v[1]], forward: { $0[0] * $0[1] }, backward: { g, t, _ in [g * t[1], nil] })
    }
    #expect(!missing.passed)
  }
}

/// Small comparison helpers for the autograd tests.
enum Ref {
  /// Every |a − b| ≤ tol · max(1, |b|).
  static func close(_ a: [Float], _ b: [Float], tol: Float) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tol * max(1, abs($1)) }
  }
}
