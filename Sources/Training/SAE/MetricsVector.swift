import SAE

extension SparsifiedMetrics {
  /// Every value as one vector, in a fixed order (the clean CE loss, the compound increase, then each keyed
  /// field with its keys sorted by name, chunk L0s last), for adding metrics over the ranks of a job.
  var flattened: [Double] {
    var out = [Double(ceLoss), Double(compoundCEIncrease)]
    for field in keyedFields {
      for key in field.keys.sorted(by: { $0.description < $1.description }) { out.append(Double(field[key]!)) }
    }
    for key in chunkL0.keys.sorted(by: { $0.description < $1.description }) { out += chunkL0[key]!.map(Double.init) }
    return out
  }

  /// These metrics with every value taken from `values` (laid out as `flattened`).
  func replacing(_ values: [Double]) -> SparsifiedMetrics {
    precondition(values.count == flattened.count, "metric vector of \(values.count) values for \(flattened.count)")
    var m = self
    var at = 0
    func next() -> Float { defer { at += 1 }; return Float(values[at]) }
    m.ceLoss = next()
    m.compoundCEIncrease = next()
    func refill(_ field: [SAEKey: Float]) -> [SAEKey: Float] {
      var out = field
      for key in field.keys.sorted(by: { $0.description < $1.description }) { out[key] = next() }
      return out
    }
    m.l0 = refill(l0)
    m.saeLoss = refill(saeLoss)
    m.reconstruct = refill(reconstruct)
    m.streamL1 = refill(streamL1)
    m.ceIncrease = refill(ceIncrease)
    m.jacobianL1 = refill(jacobianL1)
    for key in chunkL0.keys.sorted(by: { $0.description < $1.description }) {
      m.chunkL0[key] = chunkL0[key]!.map { _ in next() }
    }
    return m
  }

  /// The keyed fields in `flattened` order.
  private var keyedFields: [[SAEKey: Float]] { [l0, saeLoss, reconstruct, streamL1, ceIncrease, jacobianL1] }
}
