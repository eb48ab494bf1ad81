import Foundation
import Testing
import Tensor
import Autograd

/// The `Module` protocol: ordered named parameters and strict state-dict loading.
@Suite struct ModuleTests {
  final class Inner: Module {
    let weight = Variable(Tensor.ones([2, 2]), requiresGrad: true)
    var namedParameters: [(String, Variable)] { [("weight", weight)] }
  }

  final class Toy: Module {
    let w = Variable(Tensor.zeros([2, 3]), requiresGrad: true)
    let b = Variable(Tensor.zeros([3]), requiresGrad: true)
    let inner = Inner()
    var namedParameters: [(String, Variable)] { [("w", w), ("b", b)] + prefixed("inner.0", inner.namedParameters) }
  }

  static func validState() -> [String: Tensor] {
    ["w": Tensor.full([2, 3], 1), "b": Tensor([1, 2, 3]), "inner.0.weight": Tensor.full([2, 2], 5)]
  }

  @Test func namesOrderAndCounts() {
    let m = Toy()
    #expect(m.namedParameters.map(\.0) == ["w", "b", "inner.0.weight"])
    #expect(m.parameters.count == 3 && m.parameters[2] === m.inner.weight)
    #expect(m.parameterCount == 6 + 3 + 4)
    #expect(Set(m.stateDict().keys) == ["w", "b", "inner.0.weight"])
  }

  @Test func loadReplacesEveryValue() throws {
    let m = Toy()
    try m.load(stateDict: ModuleTests.validState())
    #expect(m.w.value.scalars == [1, 1, 1, 1, 1, 1] && m.b.value.scalars == [1, 2, 3])
    #expect(m.inner.weight.value.scalars == [5, 5, 5, 5])
    #expect(m.stateDict()["b"] == Tensor([1, 2, 3]))
  }

  @Test func loadReportsMissingUnexpectedAndMismatchedTogether() {
    let m = Toy()
    var state = ModuleTests.validState()
    state["w"] = nil                          // missing
    state["extra.bias"] = Tensor.zeros([1])   // unexpected
    state["inner.0.weight"] = Tensor.zeros([3, 2])  // wrong shape
    state["b"] = Tensor([9, 9, 9])            // valid, but must not be applied
    do {
      try m.load(stateDict: state)
      Issue.record("load accepted an invalid state dict")
    } catch let error as StateDictError {
      #expect(error.missing == ["w"])
      #expect(error.unexpected == ["extra.bias"])
      #expect(error.mismatched.count == 1 && error.mismatched[0].name == "inner.0.weight")
      #expect(error.mismatched.first?.expected == [2, 2] && error.mismatched.first?.found == [3, 2])
      let text = error.description
      #expect(!text.contains("\n"))
      #expect(text.contains("w") && text.contains("extra.bias") && text.contains("inner.0.weight") && text.contains("[3, 2]"))
    } catch {
      Issue.record("unexpected error type \(error)")
    }
    #expect(m.b.value.scalars == [0, 0, 0])  // nothing changed
  }

  @Test func eachProblemAloneIsReported() {
    let m = Toy()
    var missing = ModuleTests.validState(); missing["b"] = nil
    #expect(throws: StateDictError.self) { try m.load(stateDict: missing) }
    var extra = ModuleTests.validState(); extra["c"] = Tensor.zeros([1])
    #expect(throws: StateDictError.self) { try m.load(stateDict: extra) }
    var shape = ModuleTests.validState(); shape["b"] = Tensor.zeros([1, 3])
    #expect(throws: StateDictError.self) { try m.load(stateDict: shape) }
  }

  @Test func zeroGradAndFreeze() {
    let m = Toy()
    for p in m.parameters { p.grad = Tensor.ones(p.shape) }
    m.zeroGrad()
    #expect(m.parameters.allSatisfy { $0.grad == nil })
    m.setRequiresGrad(false)
    #expect(m.parameters.allSatisfy { !$0.requiresGrad })
    m.setRequiresGrad(true)
    #expect(m.parameters.allSatisfy { $0.requiresGrad })
  }
}
