import Foundation

/// The files that make up a run's best checkpoint: the GPT (`model.json`, `model.safetensors`), the SAEs
/// (`sae.json`, `sae.*.safetensors`) and `checkpoint-steps.json` — not logs or resume states.
public enum CheckpointFiles {
  /// Whether a file of a run directory belongs to its checkpoint.
  public static func isCheckpointFile(_ name: String) -> Bool {
    name == "model.json" || name == "model.safetensors" || name == "sae.json" || name == CheckpointSteps.fileName
      || (name.hasPrefix("sae.") && name.hasSuffix(".safetensors"))
  }

  /// `<run>/milestones/step-000750`.
  public static func milestoneDirectory(_ runDirectory: URL, step: Int) -> URL {
    runDirectory.appendingPathComponent("milestones").appendingPathComponent(String(format: "step-%06d", step))
  }

  /// Copies the checkpoint files of `source` into `destination` as a whole: they are copied into a temporary
  /// sibling directory that then replaces `destination`, so a reader never sees a partial copy.
  public static func copy(from source: URL, to destination: URL) throws {
    let fm = FileManager.default
    let names = ((try? fm.contentsOfDirectory(atPath: source.path)) ?? []).filter(isCheckpointFile).sorted()
    guard !names.isEmpty else { throw TrainingError("no checkpoint files in \(source.path) to keep") }
    let parent = destination.deletingLastPathComponent()
    let temp = parent.appendingPathComponent(".\(destination.lastPathComponent).partial-\(UUID().uuidString)")
    do {
      try fm.createDirectory(at: temp, withIntermediateDirectories: true)
      for name in names { try fm.copyItem(at: source.appendingPathComponent(name), to: temp.appendingPathComponent(name)) }
      if fm.fileExists(atPath: destination.path) { try fm.removeItem(at: destination) }
      try fm.moveItem(at: temp, to: destination)
    } catch {
      try? fm.removeItem(at: temp)
      throw TrainingError("cannot keep the checkpoint of \(source.path) in \(destination.path): \(error.localizedDescription)")
    }
  }
}
