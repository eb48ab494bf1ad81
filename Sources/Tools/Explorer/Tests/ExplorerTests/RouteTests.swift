import Autograd
import Experiments
@testable import ExplorerCore
import FeatureIndexStore
import Foundation
import GPT
import SAE
import Tensor
import Hummingbird
import HummingbirdTesting
import Testing

/// Every route of the explorer through Hummingbird's router test framework: pages and JSON answers, and bad
/// requests answered with a 4xx status and a one-line `{"error": "…"}`.
@Suite(.serialized) struct RouteTests {
  let fixture: Fixture
  init() throws { fixture = try Fixture.shared() }

  func app() -> some ApplicationProtocol { Application(router: ExplorerRoutes.router(fixture.explorer)) }

  static func string(_ r: TestResponse) -> String { String(buffer: r.body) }

  static func object(_ r: TestResponse) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(string(r).utf8)) as? [String: Any])
  }

  /// A 4xx answer whose body is exactly one line of JSON {"error": "…"} mentioning `fragment`.
  static func expectError(_ r: TestResponse, _ status: HTTPResponse.Status, _ fragment: String) throws {
    #expect(r.status == status)
    #expect(r.headers[.contentType]?.hasPrefix("application/json") == true)
    let body = string(r)
    #expect(!body.contains("\n"))
    let object = try Self.object(r)
    #expect(object.count == 1)
    let message = try #require(object["error"] as? String)
    #expect(message.contains(fragment), "\(message) should mention \(fragment)")
  }

  @Test func overviewPageAndCheckpointAPI() async throws {
    try await app().test(.router) { client in
      try await client.execute(uri: "/", method: .get) { r in
        #expect(r.status == .ok)
        #expect(r.headers[.contentType]?.hasPrefix("text/html") == true)
        let page = Self.string(r)
        for key in ["0_act", "1_act", "2_act"] { #expect(page.contains("href=\"/sae/\(key)\"")) }
        #expect(page.contains("href=\"/results\""))
      }
      try await client.execute(uri: "/api/checkpoint", method: .get) { r in
        #expect(r.status == .ok)
        let o = try Self.object(r)
        #expect(o["n_layer"] as? Int == 2)
        #expect(o["sae_variant"] as? String == "topk")
        let saes = try #require(o["saes"] as? [[String: Any]])
        #expect(saes.map { $0["key"] as? String } == ["0_act", "1_act", "2_act"])
        #expect(saes[0]["dead"] as? Int == fixture.deadFeatures.count)
        #expect((o["index"] as? [String: Any])?["tokens"] as? Int == fixture.tokenCount)
        #expect(o["attributions"] as? String == fixture.attributions.path)
      }
    }
  }

  @Test func saePageAndAPIListDeadFeatures() async throws {
    try await app().test(.router) { client in
      try await client.execute(uri: "/api/saes/0_act", method: .get) { r in
        #expect(r.status == .ok)
        let o = try Self.object(r)
        #expect(o["features"] as? Int == 24)
        #expect(o["dead_features"] as? [Int] == fixture.deadFeatures)
        let rows = try #require(o["rows"] as? [[String: Any]])
        #expect(rows.count == 24)
        #expect(rows.filter { $0["dead"] as? Bool == true }.count == fixture.deadFeatures.count)
      }
      try await client.execute(uri: "/sae/0_act", method: .get) { r in
        #expect(r.status == .ok)
        let page = Self.string(r)
        #expect(page.contains("<h1>SAE 0_act</h1>"))
        #expect(page.contains("\(fixture.deadFeatures.count) dead"))
        for f in fixture.deadFeatures { #expect(page.contains("href=\"/feature/0_act/\(f)\"")) }
      }
      try await client.execute(uri: "/sae/9_act", method: .get) { try Self.expectError($0, .notFound, "unknown SAE key '9_act'") }
      try await client.execute(uri: "/api/saes/nope", method: .get) { try Self.expectError($0, .notFound, "unknown SAE key") }
    }
  }

  @Test func featurePageAndAPI() async throws {
    let alive = try #require((0..<24).first { !fixture.deadFeatures.contains($0) })
    let expected = try #require(try fixture.explorer.index.feature("1_act", alive))
    try await app().test(.router) { client in
      try await client.execute(uri: "/api/features/1_act/\(alive)", method: .get) { r in
        #expect(r.status == .ok)
        let o = try Self.object(r)
        #expect(o["feature"] as? Int == alive)
        #expect(o["active_count"] as? Int == expected.activeCount)
        #expect((o["histogram"] as? [Int])?.reduce(0, +) == expected.activeCount)
        let contexts = try #require(o["contexts"] as? [[String: Any]])
        #expect(contexts.count == min(20, expected.activeCount))
        let first = try #require(contexts.first)
        #expect((first["tokens"] as? [[String: Any]])?.count == (first["magnitudes"] as? [Double])?.count)
        #expect((o["promoted"] as? [[String: Any]])?.count == 10)
        // 1_act is downstream of pair 0-1 and upstream of pair 1-2: edges both ways, linking to real features.
        let up = try #require(o["upstream"] as? [[String: Any]])
        let down = try #require(o["downstream"] as? [[String: Any]])
        #expect(up.count == 10 && down.count == 10)
        #expect(up.allSatisfy { $0["sae"] as? String == "0_act" })
        #expect(down.allSatisfy { $0["sae"] as? String == "2_act" })
        let a = fixture.explorer.attributions!.matrices["0-1"]!.scalars
        let strongest = (0..<24).max { abs(a[$0 * 24 + alive]) < abs(a[$1 * 24 + alive]) }!
        #expect(up[0]["feature"] as? Int == strongest)
      }
      try await client.execute(uri: "/feature/1_act/\(alive)", method: .get) { r in
        #expect(r.status == .ok)
        let page = Self.string(r)
        #expect(page.contains("1_act #\(alive)"))
        #expect(page.contains("id=\"histogram\""))
        #expect(page.contains("class=\"tok focus\""))
        #expect(page.contains("href=\"/feature/0_act/"))
        #expect(page.contains("href=\"/feature/2_act/"))
      }
      // The first SAE has no upstream pair; the last none downstream.
      try await client.execute(uri: "/api/features/0_act/0", method: .get) { r in
        let o = try Self.object(r)
        #expect(o["upstream"] == nil || o["upstream"] is NSNull)
        #expect(o["downstream"] is [[String: Any]])
      }
      if let dead = fixture.deadFeatures.first {
        try await client.execute(uri: "/feature/0_act/\(dead)", method: .get) { r in
          #expect(r.status == .ok)
          #expect(Self.string(r).contains("(dead)"))
        }
      }
    }
  }

  @Test func badFeatureRequests() async throws {
    try await app().test(.router) { client in
      try await client.execute(uri: "/api/features/0_act/24", method: .get) { try Self.expectError($0, .notFound, "out of range") }
      try await client.execute(uri: "/api/features/0_act/-1", method: .get) { try Self.expectError($0, .notFound, "out of range") }
      try await client.execute(uri: "/feature/0_act/99999999999999999999", method: .get) { try Self.expectError($0, .badRequest, "not an integer") }
      try await client.execute(uri: "/api/features/0_act/abc", method: .get) { try Self.expectError($0, .badRequest, "not an integer") }
      try await client.execute(uri: "/api/features/7_mlpout/1", method: .get) { try Self.expectError($0, .notFound, "unknown SAE key") }
      try await client.execute(uri: "/feature/x/1", method: .get) { try Self.expectError($0, .notFound, "unknown SAE key") }
      try await client.execute(uri: "/api/nothing", method: .get) { try Self.expectError($0, .notFound, "no page or API route") }
      try await client.execute(uri: "/api/checkpoint", method: .post) { r in #expect((400..<500).contains(Int(r.status.code))) }
    }
  }

  @Test func promptPageAndAPI() async throws {
    try await app().test(.router) { client in
      try await client.execute(uri: "/prompt", method: .get) { r in
        #expect(r.status == .ok)
        let page = Self.string(r)
        #expect(page.contains("<form id=\"prompt-form\""))
        #expect(!page.contains("id=\"graph\""))
      }
      let body = ByteBuffer(string: #"{"text": "Blaise Pascal:", "edges": 5}"#)
      try await client.execute(uri: "/api/prompt", method: .post, headers: [.contentType: "application/json"], body: body) { r in
        #expect(r.status == .ok)
        let o = try Self.object(r)
        #expect((o["tokens"] as? [[String: Any]])?.count == 14)
        let layers = try #require(o["layers"] as? [[String: Any]])
        #expect(layers.count == 3)
        #expect((layers[0]["tokens"] as? [[Any]])?.allSatisfy { $0.count == 3 } == true)  // TopK 3 per token
        let pairs = try #require(o["pairs"] as? [[String: Any]])
        #expect(pairs.count == 2)
        for p in pairs {
          #expect(p["kept_edges"] as? Int == 5)
          let edges = try #require(p["edges"] as? [[String: Any]])
          #expect(edges.count == min(5, p["active_edges"] as! Int))
          #expect((p["kl_full_model"] as? Double).map { $0 >= 0 && $0.isFinite } == true)
        }
      }
      try await client.execute(uri: "/prompt?text=Blaise+Pascal%3A&edges=5", method: .get) { r in
        #expect(r.status == .ok)
        let page = Self.string(r)
        #expect(page.contains("Blaise Pascal:</textarea>"))
        #expect(page.contains("id=\"graph\""))
        #expect(page.contains("class=\"edge\""))
        #expect(page.contains("id=\"pairs\""))
      }
    }
  }

  /// The prompt's KL equals an `ablate`-style sweep on the same order (PairAblation, the edges among active
  /// features first).
  @Test func promptKLIsThePrunedForwardOfAblate() throws {
    let analysis = try fixture.explorer.analyse(PromptRequest(text: "Turn, turn.", edges: 3))
    let model = fixture.explorer.model
    let ids = ASCIITokenizer().encode("Turn, turn.")
    let tokens = IntTensor(shape: [1, ids.count], scalars: ids)
    let clean = try withNoGrad { try model.gpt(tokens).value }  // as `ablate` computes them
    for p in analysis.pairs {
      let pair = try CircuitPair(model: model, layer: p.layer)
      let matrix = fixture.explorer.attributions!.matrices[pair.attributionKey]!
      let ranked = try EdgeRanking.byAttribution(matrix, seed: 125)
      let drawn = Set(p.edges.map { Int32($0.upstream * 24 + $0.downstream) })
      let order = ranked.filter { drawn.contains($0) } + ranked.filter { !drawn.contains($0) }
      let ablation = try PairAblation(pair: pair, prompts: tokens, cleanLogits: clean)
      var kl: Float = .nan
      try ablation.sweep(order: order, counts: [p.keptEdges]) { kl = $0.klFullModelMean }
      if p.edges.count == p.keptEdges { #expect(kl == p.klFullModel) }
      #expect(p.klFullModel >= 0)
    }
  }

  @Test func badPromptRequests() async throws {
    let long = String(repeating: "a", count: 33)
    try await app().test(.router) { client in
      func post(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }
      try await client.execute(uri: "/api/prompt", method: .post, body: post(#"{"text": ""}"#)) { try Self.expectError($0, .badRequest, "empty") }
      try await client.execute(uri: "/api/prompt", method: .post, body: post(#"{"text": "\#(long)"}"#)) {
        try Self.expectError($0, .badRequest, "33 tokens, more than the model's block size 32")
      }
      try await client.execute(uri: "/api/prompt", method: .post, body: post("{\"text\": ")) { try Self.expectError($0, .badRequest, "malformed JSON") }
      try await client.execute(uri: "/api/prompt", method: .post, body: post("[1, 2]")) { try Self.expectError($0, .badRequest, "malformed JSON") }
      try await client.execute(uri: "/api/prompt", method: .post, body: post(#"{"edges": 3}"#)) { try Self.expectError($0, .badRequest, "missing key 'text'") }
      try await client.execute(uri: "/api/prompt", method: .post, body: post(#"{"text": "ab", "edges": 0}"#)) { try Self.expectError($0, .badRequest, "edges must be within") }
      try await client.execute(uri: "/api/prompt", method: .post, body: post(#"{"text": "ab", "edges": "x"}"#)) { try Self.expectError($0, .badRequest, "malformed JSON") }
      try await client.execute(uri: "/api/prompt", method: .post, body: post(String(repeating: " ", count: 20_000) + "{}")) {
        try Self.expectError($0, .contentTooLarge, "larger than")
      }
      try await client.execute(uri: "/prompt?text=", method: .get) { try Self.expectError($0, .badRequest, "empty") }
      try await client.execute(uri: "/prompt?text=\(long)", method: .get) { try Self.expectError($0, .badRequest, "block size") }
      try await client.execute(uri: "/prompt?text=ab&edges=many", method: .get) { try Self.expectError($0, .badRequest, "edges must be an integer") }
    }
  }

  @Test func resultsPageAndAPI() async throws {
    try await app().test(.router) { client in
      try await client.execute(uri: "/api/results", method: .get) { r in
        #expect(r.status == .ok)
        let o = try Self.object(r)
        #expect(o["series"] as? [String] == ["other", "topk"])
        #expect(o["baseline"] as? String == "topk")
        let layers = try #require(o["layers"] as? [[String: Any]])
        #expect(layers.count == 2)
        let curves = try #require(layers[0]["curves"] as? [[String: Any]])
        #expect(curves.count == 2)
        #expect((curves[0]["points"] as? [[String: Any]])?.map { $0["edges"] as? Int } == [1, 8, 64, 576])
        #expect((curves[0]["auc"] as? Double).map { $0 > 0 } == true)
      }
      try await client.execute(uri: "/results", method: .get) { r in
        #expect(r.status == .ok)
        let page = Self.string(r)
        #expect(page.contains("id=\"auc\""))
        #expect(page.contains("<svg"))
      }
    }
  }

  @Test func withoutAttributionsOrResults() async throws {
    let explorer = try Explorer(checkpoint: fixture.checkpoint)
    try await Application(router: ExplorerRoutes.router(explorer)).test(.router) { client in
      try await client.execute(uri: "/api/results", method: .get) { try Self.expectError($0, .notFound, "no results directory") }
      try await client.execute(uri: "/results", method: .get) { try Self.expectError($0, .notFound, "no results directory") }
      try await client.execute(uri: "/api/prompt", method: .post, body: ByteBuffer(string: #"{"text": "ab"}"#)) { r in
        #expect(r.status == .ok)
        let o = try Self.object(r)
        #expect((o["pairs"] as? [Any])?.isEmpty == true)
        #expect((o["note"] as? String)?.contains("no attribution file") == true)
      }
      try await client.execute(uri: "/feature/1_act/0", method: .get) { r in
        #expect(r.status == .ok)
        #expect(Self.string(r).contains("no attribution file"))
      }
    }
  }

  @Test func badInputsAreOneLineErrors() throws {
    #expect(throws: ExplorerError.self) { try Explorer(checkpoint: fixture.directory.appendingPathComponent("missing")) }
    #expect(throws: ExplorerError.self) { try Explorer(checkpoint: fixture.checkpoint, results: fixture.checkpoint) }
    #expect(throws: ExplorerError.self) { try Explorer(checkpoint: fixture.checkpoint, attributions: fixture.checkpoint.appendingPathComponent("sae.json")) }
    do {
      _ = try Explorer(checkpoint: fixture.checkpoint, index: fixture.directory.appendingPathComponent("none.sqlite"))
      Issue.record("a missing index must be refused")
    } catch let e as ExplorerError {
      #expect(e.description.contains("index-features"))
      #expect(!e.description.contains("\n"))
    }
  }
}
