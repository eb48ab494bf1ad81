import Foundation
import Testing
import TestSupport
@testable import Training

/// The training-config fuzz harness's seeds and regression inputs (`FuzzInputs`; first byte even: a GPT
/// training config, odd: an SAE one): decoded and validated as the tools do, or refused on one line.
@Suite struct FuzzRegressionTests {
  @Test func trainingConfigInputs() throws {
    try FuzzInputs.replay("TrainingConfig", minimum: 4) { _, data in
      guard let kind = data.first else { return }
      let json = Data(data.dropFirst())
      if kind & 1 == 0 {
        let c = try JSONDecoder().decode(GPTTrainingConfig.self, from: json)
        try c.validate()
        #expect(try JSONDecoder().decode(GPTTrainingConfig.self, from: JSONEncoder().encode(c)) == c)
      } else {
        let c = try JSONDecoder().decode(SAETrainingConfig.self, from: json)
        try c.validate()
        #expect(try JSONDecoder().decode(SAETrainingConfig.self, from: JSONEncoder().encode(c)) == c)
      }
    }
  }
}
