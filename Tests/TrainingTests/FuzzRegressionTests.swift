import Foundation
import Testing
import TestSupport
@testable import Training

/// The training-config fuzz harness's seeds and regression inputs (`FuzzInputs`; first byte even: a GPT
/// training config, odd: an SAE one): decoded and validated as the tools do, or refused on one line.
@Suite struct FuzzRegressionTests {
  @Test func trainingConfigInputs() throws {
    let inputs = try FuzzInputs.all("TrainingConfig")
    #expect(inputs.count >= 4, "the fuzz seeds were not found")
    for input in inputs where !input.data.isEmpty {
      let json = Data(input.data.dropFirst())
      do {
        if input.data[input.data.startIndex] & 1 == 0 {
          let c = try JSONDecoder().decode(GPTTrainingConfig.self, from: json)
          try c.validate()
          #expect(try JSONDecoder().decode(GPTTrainingConfig.self, from: JSONEncoder().encode(c)) == c)
        } else {
          let c = try JSONDecoder().decode(SAETrainingConfig.self, from: json)
          try c.validate()
          #expect(try JSONDecoder().decode(SAETrainingConfig.self, from: JSONEncoder().encode(c)) == c)
        }
      } catch {
        #expect(input.regression && !"\(error)".contains("\n"), "\(input.name): \(error)")
      }
    }
  }
}
