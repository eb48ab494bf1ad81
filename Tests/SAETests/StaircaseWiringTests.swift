import Autograd
import Foundation
import GPT
import Tensor
import Testing
@testable import SAE

/// How `SAERegistry` wires every variant whose members share a dictionary (topk_staircase,
/// topk_staircase_detach, staircase_block, jumprelu_staircase, multilayer): which features of the shared
/// matrices each member reads (probed by changing one feature of the shared matrices and watching the
/// member's output) and which it trains (the features its own loss sends gradient to), and that the shared
/// matrices' gradient from all members together is the sum of the members' gradients (spec section 6).
@Suite struct StaircaseWiringTests {
  /// One shared matrix of a member with the axis that indexes features.
  struct SharedMatrix {
    var name: String
    var variable: Variable
    var featureAxis: Int
  }

  static func sharedMatrices(_ sae: any SparseAutoencoder) -> [SharedMatrix] {
    if let t = sae as? TopKSAE, let d = t.shared {
      return [SharedMatrix(name: "W_enc", variable: d.wEnc, featureAxis: 1), SharedMatrix(name: "W_dec", variable: d.wDec, featureAxis: 0)]
    }
    if let j = sae as? JumpReLUSAE, let c = j.shared {
      return [SharedMatrix(name: "W_enc", variable: c.wEnc, featureAxis: 1), SharedMatrix(name: "W_dec", variable: c.wDec, featureAxis: 0),
              SharedMatrix(name: "log_threshold", variable: c.logThreshold, featureAxis: 0)]
    }
    if let m = sae as? MultilayerSAE {
      let d = m.dictionary
      return [SharedMatrix(name: "W_enc", variable: d.wEnc, featureAxis: 1), SharedMatrix(name: "W_dec", variable: d.wDec, featureAxis: 0),
              SharedMatrix(name: "b_enc", variable: d.bEnc, featureAxis: 0)]
    }
    return []
  }

  /// The identity of the dictionary a member slices.
  static func dictionary(_ sae: any SparseAutoencoder) -> ObjectIdentifier? {
    if let t = sae as? TopKSAE, let d = t.shared { return ObjectIdentifier(d) }
    if let j = sae as? JumpReLUSAE, let c = j.shared { return ObjectIdentifier(c) }
    if let m = sae as? MultilayerSAE { return ObjectIdentifier(m.dictionary) }
    return nil
  }

  struct Case: CustomTestStringConvertible, Sendable {
    var variant: SAEVariant
    var sizes: [Int]
    var keys: [String]
    /// Member indices of each group, in key order.
    var groups: [[Int]]
    var testDescription: String { variant.rawValue }
  }

  static let cases: [Case] = [
    Case(variant: .topKStaircase, sizes: [8, 12, 16], keys: ["0_act", "1_act", "2_act"], groups: [[0, 1, 2]]),
    Case(variant: .topKStaircaseDetach, sizes: [8, 12, 16], keys: ["0_act", "1_act", "2_act"], groups: [[0, 1, 2]]),
    Case(variant: .staircaseBlock, sizes: [8, 16, 6, 12], keys: ["0_residmid", "0_residpost", "1_residmid", "1_residpost"],
         groups: [[0, 1], [2, 3]]),
    Case(variant: .jumpReLUStaircase, sizes: [8, 12, 16], keys: ["0_act", "1_act", "2_act"], groups: [[0, 1, 2]]),
    Case(variant: .multilayer, sizes: [6, 12, 18], keys: ["0_act", "1_act", "2_act"], groups: [[0, 1, 2]]),
  ]

  static let embedding = 6

  static func build(_ c: Case, seed: UInt64 = 3) throws -> SAESet {
    let isTopK = c.variant != .jumpReLUStaircase && c.variant != .multilayer
    let config = SAEConfig(nFeatures: c.sizes, saeVariant: c.variant, topK: isTopK ? c.sizes.map { _ in 4 } : nil,
                           saeKeys: c.keys.map { SAEKey($0)! })
    let set = try SAERegistry.build(config, gpt: GPTConfig(blockSize: 8, vocabSize: 8, nLayer: 2, nHead: 1, nEmbd: embedding), seed: seed)
    // Nonzero biases and thresholds that let features fire (the registry's init has zero biases).
    var g = RandomGenerator(seed: seed &+ 100)
    var seen = Set<ObjectIdentifier>()
    for sae in set.saes {
      for (name, p) in sae.checkpointParameters where seen.insert(ObjectIdentifier(p)).inserted {
        if name.hasSuffix("log_threshold") {
          p.assign(Tensor.uniform(p.shape, low: 0.02, high: 0.2, generator: &g).map { Foundation.log($0) })
        } else if name.hasSuffix("b_enc") || name.hasSuffix("b_dec") {
          p.assign(Tensor.normal(p.shape, std: 0.1, generator: &g))
        }
      }
    }
    for sae in set.saes { sae.sparsityCoefficient = 0.3 }
    return set
  }

  static func input(seed: UInt64) -> Variable {
    var g = RandomGenerator(seed: seed)
    return Variable(Tensor.normal([96, embedding], generator: &g))
  }

  /// Features (along the feature axis) with a nonzero gradient entry.
  static func touched(_ grad: Tensor?, featureAxis: Int) -> Set<Int> {
    guard let grad else { return [] }
    let g = grad.rank == 1 ? grad.reshaped([grad.count, 1]) : grad
    let (r, c) = (g.shape[0], g.shape[1])
    let s = g.scalars
    var out = Set<Int>()
    for i in 0..<r { for j in 0..<c where s[i * c + j] != 0 { out.insert(featureAxis == 0 ? i : j) } }
    return out
  }

  static func zeroGrads(_ set: SAESet) {
    for sae in set.saes {
      for p in sae.checkpointParameters.map(\.1) + sharedMatrices(sae).map(\.variable) { p.zeroGrad() }
    }
  }

  /// The loss the trainers minimise for one member.
  static func loss(_ sae: any SparseAutoencoder, _ x: Variable) -> Variable { sae(x).losses.total }

  /// The features of the shared matrices member m's training reaches: all it uses (the first F_m), or for
  /// the detach variant only its new slice [F_{m−1}, F_m) (the previous member of its group).
  static func expectedTrained(_ c: Case, member m: Int) -> Range<Int> {
    let group = c.groups.first { $0.contains(m) }!
    let position = group.firstIndex(of: m)!
    let previous = position == 0 ? 0 : c.sizes[group[position - 1]]
    return c.variant == .topKStaircaseDetach ? previous..<c.sizes[m] : 0..<c.sizes[m]
  }

  @Test(arguments: cases)
  func membersShareTheirGroupsDictionaryAndOnlyIt(_ c: Case) throws {
    let set = try Self.build(c)
    #expect(set.saes.map(\.featureCount) == c.sizes)
    #expect(set.saes.map(\.key.description) == c.keys)
    let ids = set.saes.map(Self.dictionary)
    #expect(ids.allSatisfy { $0 != nil })
    for group in c.groups {
      #expect(Set(group.map { ids[$0]! }).count == 1, "group \(group) does not share one dictionary")
      // The dictionary is sized for the group's largest member.
      let largest = group.map { c.sizes[$0] }.max()!
      for matrix in Self.sharedMatrices(set.saes[group[0]]) {
        #expect(matrix.variable.shape[matrix.featureAxis] == largest, "\(matrix.name) \(matrix.variable.shape)")
      }
    }
    #expect(Set(ids.compactMap { $0 }).count == c.groups.count, "groups must not share dictionaries")
    if c.variant == .topKStaircase || c.variant == .topKStaircaseDetach || c.variant == .staircaseBlock {
      #expect(set.groups.count == c.groups.count)
      for (g, group) in c.groups.enumerated() {
        // The largest member writes the group's shared file.
        let writer = try #require(set.groupWriters[set.groups[g].group])
        #expect(writer == group.max { c.sizes[$0] < c.sizes[$1] }!)
      }
      if c.variant == .staircaseBlock { #expect(set.groups.map(\.group) == [0, 1]) }
      for (m, sae) in set.saes.enumerated() {
        let t = try #require(sae as? TopKSAE)
        #expect(t.trainableFeatures == (c.variant == .topKStaircaseDetach ? Self.expectedTrained(c, member: m) : nil))
      }
    }
  }

  /// Changing feature j of the shared matrices changes member m's output exactly when j < F_m.
  @Test(arguments: cases)
  func eachMemberReadsTheFirstFeaturesOfItsDictionary(_ c: Case) throws {
    let set = try Self.build(c)
    // A positive input direction, so that a feature made large fires (and passes TopK) on every row.
    var g = RandomGenerator(seed: 9)
    let x = Variable(Tensor.uniform([16, Self.embedding], low: 0.5, high: 1.5, generator: &g))
    for (m, sae) in set.saes.enumerated() {
      let matrices = Self.sharedMatrices(sae)
      let base = withNoGrad { sae(x).reconstruction.value }
      let width = matrices[0].variable.shape[matrices[0].featureAxis]
      var read: [Int] = []
      for j in 0..<width {
        let saved = matrices.map(\.variable.value)
        for matrix in matrices where matrix.name != "log_threshold" {
          var v = matrix.variable.value
          if matrix.variable.rank == 1 {
            v[j] = 3
          } else {
            for i in 0..<v.shape[1 - matrix.featureAxis] {
              if matrix.featureAxis == 0 { v[j, i] = 3 } else { v[i, j] = 3 }
            }
          }
          matrix.variable.assign(v)
        }
        let changed = withNoGrad { sae(x).reconstruction.value }.maxAbsDifference(base) > 1e-3
        for (matrix, value) in zip(matrices, saved) { matrix.variable.assign(value) }
        if changed { read.append(j) }
      }
      #expect(read == Array(0..<c.sizes[m]), "\(c.variant.rawValue) member \(m) reads features \(read), expected 0..<\(c.sizes[m])")
    }
  }

  /// Member m's own loss sends gradient to the shared features `expectedTrained` (the first F_m; the detach
  /// variant: only [F_{m−1}, F_m)) and to no others.
  @Test(arguments: cases)
  func eachMemberTrainsItsSliceOfTheDictionary(_ c: Case) throws {
    let set = try Self.build(c)
    let x = Self.input(seed: 11)
    for (m, sae) in set.saes.enumerated() {
      Self.zeroGrads(set)
      Self.loss(sae, x).backward()
      let expected = Set(Self.expectedTrained(c, member: m))
      for matrix in Self.sharedMatrices(sae) {
        let got = Self.touched(matrix.variable.grad, featureAxis: matrix.featureAxis)
        #expect(got.isSubset(of: expected), "\(c.variant.rawValue) member \(m) \(matrix.name): trains \(got.subtracting(expected).sorted()) outside \(expected.sorted())")
        // TopK and JumpReLU only reach features that fire somewhere; with 96 random rows most of them do.
        #expect(got.count * 4 >= expected.count * 3, "\(c.variant.rawValue) member \(m) \(matrix.name): only \(got.sorted()) of \(expected.sorted())")
      }
    }
  }

  /// One backward of the members' summed losses leaves on every shared matrix the sum of the gradients each
  /// member's loss leaves alone, and at least two members contribute to the features they have in common.
  @Test(arguments: cases)
  func sharedGradientIsTheSumOfTheMembersGradients(_ c: Case) throws {
    let set = try Self.build(c)
    let inputs = set.saes.indices.map { Self.input(seed: 20 + UInt64($0)) }
    let matrices = Self.sharedMatrices(set.saes[0]) + c.groups.dropFirst().flatMap { Self.sharedMatrices(set.saes[$0[0]]) }
    var sums = matrices.map { Tensor(zeros: $0.variable.shape) }
    var contributors = matrices.map { _ in [Int: Int]() }  // feature → members touching it
    for (m, sae) in set.saes.enumerated() {
      Self.zeroGrads(set)
      Self.loss(sae, inputs[m]).backward()
      for (i, matrix) in matrices.enumerated() {
        guard let grad = matrix.variable.grad else { continue }
        sums[i] += grad
        for f in Self.touched(grad, featureAxis: matrix.featureAxis) { contributors[i][f, default: 0] += 1 }
      }
    }
    Self.zeroGrads(set)
    let total = set.saes.indices.map { Self.loss(set.saes[$0], inputs[$0]) }
    total.dropFirst().reduce(total[0], +).backward()
    for (i, matrix) in matrices.enumerated() {
      let together = try #require(matrix.variable.grad, "\(matrix.name): no gradient")
      let scale = max(sums[i].unary(.abs).max(), 1e-6)
      let diff = together.maxAbsDifference(sums[i])
      #expect(diff <= 1e-5 * scale, "\(c.variant.rawValue) \(matrix.name): |together − Σ members| = \(diff) (scale \(scale))")
      if c.variant != .topKStaircaseDetach {
        #expect(contributors[i].values.contains { $0 >= 2 }, "\(c.variant.rawValue) \(matrix.name): no feature shared by two members' gradients")
      }
    }
  }
}
