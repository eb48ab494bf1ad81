import ArgumentParser
import ExplorerCore
import FeatureIndexStore
import Foundation
import Hummingbird
import Logging
import NIOCore
import Training

/// `explore`: the feature explorer, a local web app over a checkpoint's feature index.
@main
struct Explore: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "explore",
    abstract: "Serve the feature explorer (feature, SAE, prompt and results pages, and their JSON API) for a sparsified checkpoint.",
    discussion: """
      Needs the checkpoint's feature index (index-features). Pages: / (overview), /sae/KEY, /feature/KEY/INDEX, \
      /prompt, /results. JSON API: GET /api/checkpoint, /api/saes/KEY, /api/features/KEY/INDEX, /api/results; \
      POST /api/prompt with {"text": "…", "edges": N}. Errors are answered as {"error": "…"} with a 4xx status. \
      Listens on 127.0.0.1 unless --host says otherwise; --port 0 picks a free port (printed on stderr).
      """)

  @Option(help: ArgumentHelp("Sparsified checkpoint directory.", valueName: "dir"))
  var checkpoint: String

  @Option(help: ArgumentHelp("Feature index (default: <checkpoint>/feature-index.sqlite).", valueName: "file"))
  var index: String?

  @Option(help: ArgumentHelp("Attribution file (edges on feature pages, the prompt's circuit).", valueName: "file"))
  var attributions: String?

  @Option(help: ArgumentHelp("Ablation results: an `ablate --out` directory or a directory of them.", valueName: "dir"))
  var results: String?

  @Option(help: "Address to listen on.")
  var host: String = "127.0.0.1"

  @Option(help: "Port to listen on (0: any free port).")
  var port: Int = 8080

  func run() async throws {
    guard port >= 0 && port <= 65535 else { throw ExplorerError("--port must be within 0...65535, got \(port)") }
    let explorer: Explorer
    do {
      explorer = try Explorer(checkpoint: URL(fileURLWithPath: checkpoint), index: index.map { URL(fileURLWithPath: $0) },
                              attributions: attributions.map { URL(fileURLWithPath: $0) },
                              results: results.map { URL(fileURLWithPath: $0) })
    } catch let e as ExplorerError {
      throw e
    } catch {
      throw ExplorerError("\(error)")
    }
    var logger = Logger(label: "explore")
    logger.logLevel = .warning
    let host = self.host
    let app = Application(
      router: ExplorerRoutes.router(explorer),
      configuration: .init(address: .hostname(host, port: port), serverName: "explore"),
      onServerRunning: { channel in
        let port = channel.localAddress?.port ?? 0
        Terminal.line("explore: serving \(explorer.checkpoint.path) at http://\(host):\(port)/")
      },
      logger: logger)
    try await app.runService()
  }
}
