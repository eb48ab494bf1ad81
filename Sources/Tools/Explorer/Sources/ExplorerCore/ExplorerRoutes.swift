import FeatureIndexStore
import Foundation
import Hummingbird
import Tensor

/// An error answered to the client: its status (4xx for bad requests) and a one-line message, sent as
/// `{"error":"…"}`.
public struct APIError: Error, Sendable {
  public var status: HTTPResponse.Status
  public var message: String

  public init(_ status: HTTPResponse.Status, _ message: String) {
    self.status = status
    self.message = message.onOneLine
  }
}

/// Turns every error of a route (and an unmatched route) into a JSON answer `{"error":"…"}` on one line:
/// `APIError` and Hummingbird's `HTTPError` keep their status, anything else is a 500.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
  func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
    do {
      return try await next(request, context)
    } catch let e as APIError {
      return ExplorerRoutes.error(e.status, e.message)
    } catch let e as HTTPError {
      let message = e.status == .notFound && e.body == nil
        ? "no page or API route \(request.method) \(request.uri.path)" : (e.body ?? e.status.reasonPhrase)
      return ExplorerRoutes.error(e.status, message)
    } catch let e as ExplorerError {
      return ExplorerRoutes.error(.internalServerError, e.description)
    } catch {
      return ExplorerRoutes.error(.internalServerError, "\(error)")
    }
  }
}

/// The explorer's routes. Pages (HTML): `/`, `/sae/{key}`, `/feature/{key}/{index}`, `/prompt[?text=…&edges=N]`,
/// `/results`. JSON API: `GET /api/checkpoint`, `GET /api/saes/{key}`, `GET /api/features/{key}/{index}`,
/// `GET /api/results`, `POST /api/prompt` (body `{"text": "…", "edges": N}`). Errors are 4xx (5xx only for a
/// failure of the explorer itself) with the body `{"error":"…"}`.
public enum ExplorerRoutes {
  /// A router serving `explorer`.
  public static func router(_ explorer: Explorer) -> Router<BasicRequestContext> {
    let router = Router()
    router.add(middleware: JSONErrorMiddleware())
    router.get("/") { _, _ in html(Pages.overview(explorer)) }
    router.get("/sae/:key") { _, context in
      html(Pages.sae(explorer, try explorer.saeDetail(try context.parameters.require("key"))))
    }
    router.get("/feature/:key/:index") { _, context in
      html(Pages.feature(explorer, try explorer.featureDetail(try context.parameters.require("key"),
                                                              try context.parameters.require("index"))))
    }
    router.get("/prompt") { request, _ in
      let query = formParameters(request.uri.query ?? "")
      // Browsers send a textarea's line breaks as CRLF.
      guard let text = query["text"]?.replacingOccurrences(of: "\r\n", with: "\n") else { return html(Pages.prompt(explorer, text: "", edges: 20, analysis: nil)) }
      let edges: Int?
      if let e = query["edges"], !e.isEmpty {
        guard let n = Int(e) else { throw APIError(.badRequest, "edges must be an integer, got '\(e)'") }
        edges = n
      } else {
        edges = nil
      }
      let analysis = try explorer.analyse(PromptRequest(text: text, edges: edges))
      return html(Pages.prompt(explorer, text: text, edges: analysis.edges, analysis: analysis))
    }
    router.get("/results") { _, _ in
      guard let results = explorer.results else { throw noResults }
      return html(Pages.results(explorer, results.summary))
    }
    router.get("/api/checkpoint") { _, _ in try json(explorer.summary) }
    router.get("/api/saes/:key") { _, context in try json(try explorer.saeDetail(try context.parameters.require("key"))) }
    router.get("/api/features/:key/:index") { _, context in
      try json(try explorer.featureDetail(try context.parameters.require("key"), try context.parameters.require("index")))
    }
    router.get("/api/results") { _, _ in
      guard let results = explorer.results else { throw noResults }
      return try json(results.summary)
    }
    router.post("/api/prompt") { request, _ in
      let body: ByteBuffer
      do {
        body = try await request.body.collect(upTo: explorer.maxPromptBytes)
      } catch {
        throw APIError(.contentTooLarge, "the request body is larger than \(explorer.maxPromptBytes) bytes")
      }
      let prompt: PromptRequest
      do {
        prompt = try JSONDecoder().decode(PromptRequest.self, from: Data(body.readableBytesView))
      } catch {
        throw APIError(.badRequest, "malformed JSON: expected {\"text\": \"…\", \"edges\": N} (\(describe(error)))")
      }
      return try json(try explorer.analyse(prompt))
    }
    return router
  }

  static var noResults: APIError { APIError(.notFound, "no results directory given (explore --results DIR)") }

  static func describe(_ error: Error) -> String {
    switch error {
    case DecodingError.dataCorrupted(let c): return c.debugDescription
    case DecodingError.keyNotFound(let k, _): return "missing key '\(k.stringValue)'"
    case DecodingError.typeMismatch(_, let c): return "wrong type at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
    case DecodingError.valueNotFound(_, let c): return "null at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
    default: return "\(error)"
    }
  }

  /// The JSON encoding of every API answer: snake_case keys, sorted.
  static func encoder() -> JSONEncoder {
    let e = JSONEncoder()
    e.keyEncodingStrategy = .convertToSnakeCase
    e.outputFormatting = [.sortedKeys]
    e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return e
  }

  static func json<T: Encodable>(_ value: T) throws -> Response {
    let data = try encoder().encode(value)
    return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(bytes: data)))
  }

  static func html(_ page: String) -> Response {
    Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: page)))
  }

  /// `{"error":"…"}` with `status`.
  static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
    let data = (try? JSONSerialization.data(withJSONObject: ["error": message.onOneLine], options: [.sortedKeys])) ?? Data("{\"error\":\"error\"}".utf8)
    return Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(bytes: data)))
  }

  /// The parameters of an application/x-www-form-urlencoded query ("+" is a space; the first value of a name wins).
  static func formParameters(_ query: String) -> [String: String] {
    var out: [String: String] = [:]
    for part in query.split(separator: "&") {
      let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
      func decode(_ s: Substring) -> String {
        let spaced = s.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
      }
      let name = decode(pieces[0])
      if out[name] == nil { out[name] = pieces.count > 1 ? decode(pieces[1]) : "" }
    }
    return out
  }
}
