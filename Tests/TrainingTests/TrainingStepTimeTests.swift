import Foundation
import Testing
@testable import Training

@Suite struct TrainingStepTimeTests {
  @Test func sumsLoggedStepTimesOverTheStepsBetweenLines() throws {
    let log = """
      type train | step 10 | loss 4.8 | lr 1.0e-05 | norm 3.3 | dt 0.500
      type train | step 20 | loss 4.7 | lr 2.0e-05 | norm 3.1 | dt 0.250
      type train | step 40 | loss 4.6 4.1 | lr 3.0e-05 | norm 3.0 | dt 1.000
      """
    // 10 × 0.5 + 10 × 0.25 + 20 × 1.0
    #expect(try #require(TrainingStepTime.fromLog(log)) == 27.5)
  }

  @Test func aResumedRunsRepeatedStepsAreCountedOnce() throws {
    let log = """
      type train | step 10 | loss 4.8 | dt 1.000
      type train | step 20 | loss 4.7 | dt 1.000
      type train | step 10 | loss 4.8 | dt 3.000
      type train | step 20 | loss 4.7 | dt 3.000
      type train | step 30 | loss 4.6 | dt 2.000
      """
    #expect(try #require(TrainingStepTime.fromLog(log)) == 40)
  }

  @Test func linesWithoutStepOrTimeAreIgnored() {
    #expect(TrainingStepTime.fromLog("") == nil)
    #expect(TrainingStepTime.fromLog("type eval | step 10 | loss 4.8\nnot a log line\ntype train | step x | dt 1") == nil)
    #expect(TrainingStepTime.fromLog("type train | step 10 | dt nan\ntype train | step 20 | dt -1") == nil)
  }

  @Test func readsTheRunDirectorysTrainLog() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("step-time-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    #expect(TrainingStepTime.fromLog(runDirectory: dir) == nil)
    try "type train | step 5 | dt 0.200\n".write(to: dir.appendingPathComponent("train.log"), atomically: true, encoding: .utf8)
    #expect(abs(try #require(TrainingStepTime.fromLog(runDirectory: dir)) - 1.0) < 1e-12)
  }
}
