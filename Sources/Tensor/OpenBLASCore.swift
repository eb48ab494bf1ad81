import COpenBLAS
import Foundation

/// Which OpenBLAS kernels ("core") this process runs.
///
/// OpenBLAS picks its kernels for the CPU when it loads. A release that does not know the CPU (Debian's 0.3.21 on
/// an Emerald Rapids Xeon, for one) falls back to its generic SSE3 "Prescott" kernels, which run sgemm at a
/// fraction of the CPU's rate (62 against 295 GFLOP/s on such a Xeon). Before the first BLAS call the Tensor
/// module then selects the kernels made for the CPU's vector units (`BLAS.betterCore`), the same ones
/// OPENBLAS_CORETYPE would select. It never overrides a choice made in the environment: with OPENBLAS_CORETYPE
/// set, or with GPTCIRCUITS_KEEP_OPENBLAS_CORE set to any value, OpenBLAS keeps what it chose.
public struct OpenBLASCoreSelection: Sendable, Equatable {
  /// The core OpenBLAS chose when it loaded.
  public var detected: String
  /// The core this process runs: `detected`, or the one selected for the CPU.
  public var current: String
  /// Whether the Tensor module replaced OpenBLAS's own choice.
  public var replaced: Bool { current != detected }

  /// The environment variable that, set to any value, keeps OpenBLAS's own choice.
  public static let keepVariable = "GPTCIRCUITS_KEEP_OPENBLAS_CORE"

  /// The core to select when OpenBLAS chose `detected`: `BLAS.betterCore` for these CPU flags, unless the
  /// environment chose (OPENBLAS_CORETYPE) or asks to keep OpenBLAS's choice (`keepVariable`); nil to keep it.
  public static func coreToSelect(detected: String, environment: [String: String], cpuFlags: Set<String>) -> String? {
    guard environment["OPENBLAS_CORETYPE"] == nil, environment[keepVariable] == nil else { return nil }
    return BLAS.betterCore(than: detected, cpuFlags: cpuFlags)
  }

  /// Applies `coreToSelect` to this process, once, before any BLAS call (through `BLAS.coreSelection`). The
  /// switch goes through OpenBLAS's own start-up path (`gotoblas_dynamic_init` with OPENBLAS_CORETYPE set for
  /// the call, then restored); an OpenBLAS built for one CPU only lacks that path and keeps its kernels.
  static func apply() -> OpenBLASCoreSelection {
    let detected = String(cString: openblas_get_corename())
    guard let wanted = coreToSelect(detected: detected, environment: ProcessInfo.processInfo.environment,
                                    cpuFlags: CPUInfo.flags),
          let handle = dlopen(nil, RTLD_NOW),
          let quit = dlsym(handle, "gotoblas_dynamic_quit"), let initialise = dlsym(handle, "gotoblas_dynamic_init")
    else { return OpenBLASCoreSelection(detected: detected, current: detected) }
    typealias Entry = @convention(c) () -> Void
    setenv("OPENBLAS_CORETYPE", wanted, 1)
    unsafeBitCast(quit, to: Entry.self)()
    unsafeBitCast(initialise, to: Entry.self)()
    unsetenv("OPENBLAS_CORETYPE")
    return OpenBLASCoreSelection(detected: detected, current: String(cString: openblas_get_corename()))
  }
}
