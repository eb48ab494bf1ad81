import Foundation
import Tensor

/// Facts about the machine a figure was measured on.
public enum MachineInfo {
  /// `lscpu`'s model name (the `model name` line of /proc/cpuinfo), or "unknown".
  public static let cpuModel: String = cpuinfo("model name")?.trimmingCharacters(in: .whitespaces) ?? "unknown"

  /// Online cores.
  public static var cores: Int { ProcessInfo.processInfo.activeProcessorCount }

  /// The flags of the `flags` line of /proc/cpuinfo (the CPU's instruction-set extensions); empty when unknown.
  public static let cpuFlags: Set<String> = Set((cpuinfo("flags") ?? "").split(separator: " ").map(String.init))

  /// The value of the first /proc/cpuinfo line whose name starts with `field` (after its colon), if any.
  static func cpuinfo(_ field: String) -> String? {
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let line = info.split(separator: "\n").first(where: { $0.hasPrefix(field) }),
          let colon = line.firstIndex(of: ":") else { return nil }
    return String(line[line.index(after: colon)...])
  }

  /// The OpenBLAS kernels made for this CPU's vector units ("SkylakeX" for AVX-512, "Haswell" for AVX2 and FMA)
  /// when OpenBLAS, not recognising the CPU, fell back to its generic "Prescott" kernels and OPENBLAS_CORETYPE
  /// is unset; nil otherwise.
  public static var betterOpenBLASCore: String? {
    guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil else { return nil }
    return BLAS.betterCore(than: BLAS.coreName, cpuFlags: cpuFlags)
  }

  /// One line telling the user that OpenBLAS runs its generic kernels on this CPU and how to select the ones for
  /// its vector units; nil when there is nothing better to select.
  public static var openBLASNotice: String? {
    betterOpenBLASCore.map {
      "notice: OpenBLAS does not recognise this CPU (\(cpuModel)) and runs its generic Prescott kernels; "
        + "OPENBLAS_CORETYPE=\($0) in the environment selects the kernels for its vector units (sgemm several times faster)"
    }
  }

  /// Prints `openBLASNotice` on stderr when stderr is a terminal (a person is watching; scripts and logs are
  /// left as they are).
  public static func noteOpenBLASKernels() {
    guard isatty(2) != 0, let notice = openBLASNotice else { return }
    FileHandle.standardError.write(Data((notice + "\n").utf8))
  }
}
