import ArgumentParser
import Autograd
import Foundation
import GPT
import SAE
import Tensor
import Training

extension BenchSuite {
  /// The parts of a JSAE training step: the frozen GPT's activations, the SAE forwards + backward, and the
  /// Jacobian sparsity term of every pair with and without its gradients.
  func jsaeStepParts(preset: String) throws -> [BenchResult] {
    let (m, model, tokens, acts) = try frozenSAEModel(preset: preset)
    let actSeconds = measureWithCPU { _ = try! model.activations(tokens) }
    let saeSeconds = measureWithCPU {
      let losses = model.orderedSAEs.map { $0(Variable(acts[$0.key]!)).losses.total }
      losses.dropFirst().reduce(losses[0], +).backward()
    }
    let outputs = withNoGrad { Dictionary(uniqueKeysWithValues: model.orderedSAEs.map { ($0.key, $0(Variable(acts[$0.key]!))) }) }
    guard let placement = model.placement else { throw ValidationError("\(preset) has no FF placement") }
    let layers = Array(Set(model.keys.map(\.layer))).sorted()
    func terms() -> [Variable] {
      layers.map { layer in
        let (inKey, outKey) = placement.pair(layer: layer)
        return JacobianSparsity.pairTerm(model, layer: layer, cleanInput: acts[inKey]!, inIndices: outputs[inKey]!.topKIndices!,
                                         outIndices: outputs[outKey]!.topKIndices!)
      }
    }
    let valueSeconds = measureWithCPU { _ = withNoGrad { terms() } }
    let gradSeconds = measureWithCPU {
      let j = terms()
      j.dropFirst().reduce(j[0], +).backward()
    }
    func cpuRow(_ name: String, _ r: (wall: Double, fastest: Double, cpu: Double)) -> BenchResult {
      row(name, seconds: r.wall, note: String(format: "fastest %.1f ms; process CPU %.1f ms", r.fastest * 1e3, r.cpu * 1e3))
    }
    return [cpuRow("  GPT activations at \(m.saeKeys.count) keys (no grad)", actSeconds),
            cpuRow("  \(m.saeKeys.count) SAE forwards + backward", saeSeconds),
            cpuRow("  J of \(layers.count) pairs (value only)", valueSeconds),
            cpuRow("  J of \(layers.count) pairs with gradients + backward", gradSeconds)]
  }

  /// Median and fastest wall seconds per call (`measureSpread`) and mean process CPU seconds per call over the
  /// same calls.
  func measureWithCPU(_ body: () -> Void) -> (wall: Double, fastest: Double, cpu: Double) {
    var calls = 0
    let cpu0 = processCPUSeconds()
    let wall = measureSpread(budget: budget) {
      body()
      calls += 1
    }
    return (wall.median, wall.fastest, (processCPUSeconds() - cpu0) / Double(calls))
  }
}

/// CPU seconds used by every thread of this process so far.
func processCPUSeconds() -> Double {
  var ts = timespec()
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
  return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
