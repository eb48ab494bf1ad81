import Foundation
import Tensor

/// Facts about the machine a figure was measured on.
public enum MachineInfo {
  /// `lscpu`'s model name (the `model name` line of /proc/cpuinfo), or "unknown".
  public static var cpuModel: String { CPUInfo.modelName }

  /// Online cores.
  public static var cores: Int { ProcessInfo.processInfo.activeProcessorCount }

  /// Memory available for new work without swapping (/proc/meminfo's MemAvailable), in bytes; nil when unknown.
  public static var availableMemory: Int? {
    guard let info = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
          let line = info.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
          let kib = Int(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
    return kib * 1024
  }

  /// The flags of the `flags` line of /proc/cpuinfo (the CPU's instruction-set extensions); empty when unknown.
  public static var cpuFlags: Set<String> { CPUInfo.flags }

  /// The OpenBLAS kernels made for this CPU's vector units ("SkylakeX" for AVX-512, "Haswell" for AVX2 and FMA)
  /// when this process runs OpenBLAS's generic "Prescott" kernels (OpenBLAS did not recognise the CPU, and
  /// OPENBLAS_CORETYPE or GPTCIRCUITS_KEEP_OPENBLAS_CORE kept its choice); nil otherwise.
  public static var betterOpenBLASCore: String? {
    BLAS.betterCore(than: BLAS.coreName, cpuFlags: cpuFlags)
  }

  /// One line saying which OpenBLAS kernels run when they are not OpenBLAS's own choice, or when faster ones
  /// exist for this CPU; nil when OpenBLAS's choice stands and fits the CPU.
  public static var openBLASNotice: String? {
    let selection = BLAS.coreSelection
    if selection.replaced {
      return "note: OpenBLAS does not recognise this CPU (\(cpuModel)) and chose its generic \(selection.detected) "
        + "kernels; running its \(selection.current) kernels, made for this CPU's vector units "
        + "(\(OpenBLASCoreSelection.keepVariable)=1 keeps \(selection.detected))"
    }
    return betterOpenBLASCore.map {
      "notice: OpenBLAS runs its generic \(BLAS.coreName) kernels on this CPU (\(cpuModel)); "
        + "OPENBLAS_CORETYPE=\($0) in the environment selects the kernels for its vector units (sgemm several times faster)"
    }
  }

  /// Prints `openBLASNotice` on stderr when it warns of slow kernels and stderr is a terminal (a person is
  /// watching; scripts and logs are left as they are).
  public static func noteOpenBLASKernels() {
    guard isatty(2) != 0, betterOpenBLASCore != nil, let notice = openBLASNotice else { return }
    FileHandle.standardError.write(Data((notice + "\n").utf8))
  }
}
