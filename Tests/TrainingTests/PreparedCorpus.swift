import Foundation
import TestSupport
import Training

extension SharedData {
  /// The classic corpus prepared as in spec section 1 (`ShakespearePreparation`), once per test process.
  static func preparedClassicCorpus() throws -> URL {
    try preparedCorpus { _ = try ShakespearePreparation.prepare(input: $0, directory: $1) }
  }
}
