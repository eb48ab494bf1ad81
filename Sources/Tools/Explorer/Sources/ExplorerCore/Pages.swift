import FeatureIndexStore
import Foundation

/// Server-rendered HTML of the explorer's pages (small inline scripts, no build step).
enum Pages {
  static func escape(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.count)
    for ch in s {
      switch ch {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "'": out += "&#39;"
      default: out.append(ch)
      }
    }
    return out
  }

  /// A token's text made visible: newline as ↵, tab as →, other control characters as their code.
  static func visible(_ s: String) -> String {
    var out = ""
    for u in s.unicodeScalars {
      switch u {
      case "\n": out += "↵"
      case "\t": out += "→"
      default: out += u.value < 32 || u.value == 127 ? String(format: "\\x%02x", u.value) : String(u)
      }
    }
    return escape(out)
  }

  static func format(_ x: Double, _ digits: Int = 3) -> String {
    guard x.isFinite else { return "\(x)" }
    return String(format: "%.\(digits)g", x)
  }

  static func percent(_ x: Double) -> String { String(format: "%.3f%%", x * 100) }

  static func featureLink(_ key: String, _ feature: Int) -> String {
    "<a class=\"feat\" href=\"/feature/\(escape(key))/\(feature)\">\(escape(key)) #\(feature)</a>"
  }

  static let style = """
    body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d232a;background:#f7f8fa}
    header{background:#1f3b57;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:baseline}
    header a{color:#dce8f5;text-decoration:none}header b{font-size:18px}
    main{padding:16px 24px;max-width:1200px}h1{font-size:22px;margin:8px 0 12px}h2{font-size:17px;margin:22px 0 8px}
    table{border-collapse:collapse;background:#fff;font-size:13px}td,th{border:1px solid #dde2e8;padding:3px 8px;text-align:right}
    th{background:#eef2f6}td.l,th.l{text-align:left}.dead{color:#b03030}.muted{color:#68727d}
    .stats span{display:inline-block;margin-right:18px;background:#fff;border:1px solid #dde2e8;padding:6px 10px;border-radius:4px}
    .ctx{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;white-space:pre;background:#fff;border:1px solid #e3e7ec;
      padding:3px 6px;margin:2px 0;overflow-x:auto}.ctx .tok{border-radius:2px}.ctx .focus{outline:1.5px solid #c0392b}
    .cols{display:flex;gap:28px;flex-wrap:wrap}.pos{color:#1a7f37}.neg{color:#b03030}
    a.feat{color:#1f5fa8;text-decoration:none}a.feat:hover{text-decoration:underline}
    textarea{width:100%;max-width:900px;font-family:ui-monospace,monospace;font-size:14px}
    .tokrow{display:flex;flex-wrap:wrap;gap:2px;font-family:ui-monospace,monospace;font-size:12px}
    .tokcell{background:#fff;border:1px solid #dde2e8;padding:2px 4px;min-width:14px;cursor:pointer}
    .tokcell.sel{background:#ffe08a}svg text{font-family:system-ui,sans-serif}
    """

  static func page(_ title: String, _ explorer: Explorer, _ body: String) -> String {
    let links = ["<a href=\"/\">Overview</a>", "<a href=\"/prompt\">Prompt</a>"]
      + (explorer.results == nil ? [] : ["<a href=\"/results\">Results</a>"])
    return """
      <!doctype html><html lang="en"><head><meta charset="utf-8"><title>\(escape(title)) · explore</title>
      <meta name="viewport" content="width=device-width,initial-scale=1"><style>\(style)</style></head>
      <body><header><b>explore</b>\(links.joined())<span class="muted">\(escape(explorer.checkpoint.lastPathComponent))</span></header>
      <main>\(body)</main></body></html>
      """
  }

  // MARK: overview

  static func overview(_ explorer: Explorer) -> String {
    let s = explorer.summary
    var rows = ""
    for sae in s.saes {
      rows += "<tr><td class=\"l\"><a class=\"feat\" href=\"/sae/\(escape(sae.key))\">\(escape(sae.key))</a></td><td>\(sae.features)</td>"
        + "<td>\(sae.dead) (\(percent(Double(sae.dead) / Double(max(sae.features, 1)))))</td><td>\(format(sae.l0, 4))</td></tr>"
    }
    let body = """
      <h1>\(escape(s.checkpoint))</h1>
      <div class="stats"><span>GPT: \(s.nLayer) layers, n_embd \(s.nEmbd), vocabulary \(s.vocabSize), block \(s.blockSize)</span>
      <span>SAEs: \(escape(s.saeVariant)) at \(escape(s.placement ?? "mixed keys"))</span>
      <span>Index: \(s.index.tokens) tokens of the \(escape(s.index.split)) split, built in \(format(s.index.seconds, 3)) s</span></div>
      <h2>SAEs</h2><table id="saes"><tr><th class="l">key</th><th>features</th><th>dead</th><th>L0</th></tr>\(rows)</table>
      <h2>Data</h2><p>Attributions: \(s.attributions.map { escape($0) } ?? "<span class=\"muted\">none (--attributions FILE)</span>")<br>
      Results: \(s.results.map { "<a href=\"/results\">\(escape($0))</a>" } ?? "<span class=\"muted\">none (--results DIR)</span>")<br>
      Data: \(escape(s.index.dataDirectory))</p>
      <p class="muted">JSON: <a href="/api/checkpoint">/api/checkpoint</a></p>
      """
    return page("Overview", explorer, body)
  }

  // MARK: SAE

  static func sae(_ explorer: Explorer, _ d: SAEDetail) -> String {
    var rows = ""
    for r in d.rows.sorted(by: { $0.frequency != $1.frequency ? $0.frequency > $1.frequency : $0.feature < $1.feature }) {
      rows += "<tr\(r.dead ? " class=\"dead\"" : "")><td class=\"l\">\(featureLink(d.sae, r.feature))</td><td>\(r.activeCount)</td>"
        + "<td>\(percent(r.frequency))</td><td>\(format(Double(r.meanMagnitude)))</td><td>\(format(Double(r.maxMagnitude)))</td>"
        + "<td class=\"l\">\(r.dead ? "dead" : "")</td></tr>"
    }
    let dead = d.deadFeatures.isEmpty ? "none"
      : d.deadFeatures.map { featureLink(d.sae, $0) }.joined(separator: ", ")
    let body = """
      <h1>SAE \(escape(d.sae))</h1>
      <div class="stats"><span>\(d.features) features</span><span>L0 \(format(d.l0, 4))</span><span class="dead">\(d.deadFeatures.count) dead</span></div>
      <h2>Dead features</h2><p id="dead">\(dead)</p>
      <h2>Features by frequency</h2>
      <table id="features"><tr><th class="l">feature</th><th>active tokens</th><th>frequency</th><th>mean</th><th>max</th><th class="l"></th></tr>\(rows)</table>
      <p class="muted">JSON: <a href="/api/saes/\(escape(d.sae))">/api/saes/\(escape(d.sae))</a></p>
      """
    return page("SAE \(d.sae)", explorer, body)
  }

  // MARK: feature

  static func histogram(_ d: FeatureDetail) -> String {
    let w = 420.0, h = 140.0, bins = d.histogram.count
    let top = Double(d.histogram.max() ?? 0)
    guard bins > 0, top > 0 else { return "<p class=\"muted\">no activations</p>" }
    var bars = ""
    let bw = w / Double(bins)
    for (i, c) in d.histogram.enumerated() {
      let bh = Double(c) / top * (h - 20)
      bars += "<rect x=\"\(format(Double(i) * bw + 50, 6))\" y=\"\(format(h - 16 - bh, 6))\" width=\"\(format(bw - 1, 6))\" height=\"\(format(bh, 6))\" fill=\"#e67e22\"><title>\(c)</title></rect>"
    }
    return """
      <svg id="histogram" width="\(Int(w) + 60)" height="\(Int(h))" role="img" aria-label="magnitude histogram">\(bars)
      <line x1="50" y1="\(h - 16)" x2="\(w + 50)" y2="\(h - 16)" stroke="#555"/>
      <text x="50" y="\(h - 2)" font-size="11">\(format(Double(d.histogramLower)))</text>
      <text x="\(w + 50)" y="\(h - 2)" font-size="11" text-anchor="end">\(format(Double(d.histogramUpper)))</text>
      <text x="46" y="12" font-size="11" text-anchor="end">\(Int(top))</text></svg>
      """
  }

  static func context(_ c: ContextView, max: Float) -> String {
    var spans = ""
    for (i, t) in c.tokens.enumerated() {
      let m = c.magnitudes[i]
      let alpha = max > 0 ? Swift.max(0, Swift.min(1, Double(m / max))) : 0
      spans += "<span class=\"tok\(i == c.focus ? " focus" : "")\" style=\"background:rgba(230,126,34,\(format(alpha, 3)))\" title=\"\(format(Double(m)))\">\(visible(t.text))</span>"
    }
    return "<div class=\"ctx\"><span class=\"muted\">\(String(format: "%7.3f", c.magnitude))  </span>\(spans)</div>"
  }

  static func edgeTable(_ id: String, _ edges: [FeatureEdge]?, missing: String) -> String {
    guard let edges else { return "<p class=\"muted\" id=\"\(id)\">\(missing)</p>" }
    guard !edges.isEmpty else { return "<p class=\"muted\" id=\"\(id)\">no nonzero edges</p>" }
    var rows = ""
    for e in edges {
      rows += "<tr><td class=\"l\">\(featureLink(e.sae, e.feature))</td><td class=\"\(e.attribution >= 0 ? "pos" : "neg")\">\(format(Double(e.attribution), 4))</td></tr>"
    }
    return "<table id=\"\(id)\"><tr><th class=\"l\">feature</th><th>attribution</th></tr>\(rows)</table>"
  }

  static func feature(_ explorer: Explorer, _ d: FeatureDetail) -> String {
    let effects = { (list: [EffectView], cls: String) -> String in
      list.map { "<tr><td class=\"l\"><code>\(visible($0.token.text))</code></td><td class=\"\(cls)\">\(format(Double($0.value), 4))</td></tr>" }.joined()
    }
    let contexts = d.contexts.isEmpty ? "<p class=\"muted\">none: the feature never fired on the indexed tokens</p>"
      : d.contexts.map { context($0, max: d.maxMagnitude) }.joined()
    let noAttributions = explorer.attributions == nil ? "no attribution file (--attributions FILE)" : "no SAE on this side"
    let prev = d.feature > 0 ? "<a class=\"feat\" href=\"/feature/\(escape(d.sae))/\(d.feature - 1)\">← #\(d.feature - 1)</a>" : ""
    let next = d.feature + 1 < d.features ? "<a class=\"feat\" href=\"/feature/\(escape(d.sae))/\(d.feature + 1)\">#\(d.feature + 1) →</a>" : ""
    let body = """
      <h1>Feature <span id="title">\(escape(d.sae)) #\(d.feature)</span> \(d.dead ? "<span class=\"dead\">(dead)</span>" : "")</h1>
      <p><a class="feat" href="/sae/\(escape(d.sae))">SAE \(escape(d.sae))</a> · \(prev) \(next)</p>
      <div class="stats" id="stats"><span>frequency \(percent(d.frequency)) (\(d.activeCount) tokens)</span>
      <span>mean \(format(Double(d.meanMagnitude)))</span><span>max \(format(Double(d.maxMagnitude)))</span></div>
      <h2>Magnitude histogram</h2>\(histogram(d))
      <h2>Top activating contexts</h2><div id="contexts">\(contexts)</div>
      <div class="cols"><div><h2>Promoted tokens (logit effect)</h2><table id="promoted">\(effects(d.promoted, "pos"))</table></div>
      <div><h2>Suppressed tokens</h2><table id="suppressed">\(effects(d.suppressed, "neg"))</table></div>
      <div><h2>Upstream edges</h2>\(edgeTable("upstream", d.upstream, missing: noAttributions))</div>
      <div><h2>Downstream edges</h2>\(edgeTable("downstream", d.downstream, missing: noAttributions))</div></div>
      <p class="muted">JSON: <a href="/api/features/\(escape(d.sae))/\(d.feature)">/api/features/\(escape(d.sae))/\(d.feature)</a></p>
      """
    return page("\(d.sae) #\(d.feature)", explorer, body)
  }

  // MARK: prompt

  /// The graph of the prompt: one column per SAE, the active features that are ends of drawn edges (plus the
  /// strongest few per SAE), edges as lines whose width follows |attribution|.
  static func graph(_ a: PromptAnalysis) -> String {
    let keys = a.layers.map(\.sae)
    var shown: [String: [Int: Float]] = [:]  // key → feature → max magnitude
    for l in a.layers {
      var best: [Int: Float] = [:]
      for t in l.tokens { for act in t { best[act.feature] = Swift.max(best[act.feature] ?? 0, act.magnitude) } }
      let edgeEnds = Set(a.pairs.flatMap { p in p.edges.flatMap { e in [(e.upstreamSae, e.upstream), (e.downstreamSae, e.downstream)] } }
        .filter { $0.0 == l.sae }.map { $0.1 })
      let strongest = best.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(6).map(\.key)
      var keep: [Int: Float] = [:]
      for f in edgeEnds.union(strongest) { keep[f] = best[f] ?? 0 }
      shown[l.sae] = keep
    }
    let rowsMax = max(1, shown.values.map(\.count).max() ?? 1)
    let colW = 170.0, rowH = 26.0, w = Double(keys.count) * colW + 20, h = Double(rowsMax) * rowH + 50
    var pos: [String: (Double, Double)] = [:]
    var nodes = ""
    for (c, key) in keys.enumerated() {
      let x = 20 + Double(c) * colW + 50
      nodes += "<text x=\"\(format(x, 6))\" y=\"18\" font-size=\"13\" text-anchor=\"middle\" font-weight=\"bold\">\(escape(key))</text>"
      let feats = (shown[key] ?? [:]).sorted { $0.key < $1.key }
      let top = feats.map(\.value).max() ?? 1
      for (r, (f, m)) in feats.enumerated() {
        let y = 40 + Double(r) * rowH
        pos["\(key)#\(f)"] = (x, y)
        let shade = top > 0 ? 0.25 + 0.75 * Double(m / top) : 0.25
        nodes += "<a href=\"/feature/\(escape(key))/\(f)\"><circle cx=\"\(format(x, 6))\" cy=\"\(format(y, 6))\" r=\"8\" fill=\"rgba(230,126,34,\(format(shade, 3)))\" stroke=\"#7a4a12\"><title>\(escape(key)) #\(f), max \(format(Double(m)))</title></circle>"
          + "<text x=\"\(format(x + 12, 6))\" y=\"\(format(y + 4, 6))\" font-size=\"11\">#\(f)</text></a>"
      }
    }
    var lines = ""
    let maxAbs = a.pairs.flatMap(\.edges).map { abs($0.attribution) }.max() ?? 1
    for e in a.pairs.flatMap(\.edges) {
      guard let p = pos["\(e.upstreamSae)#\(e.upstream)"], let q = pos["\(e.downstreamSae)#\(e.downstream)"] else { continue }
      let width = 0.6 + 5.4 * Double(abs(e.attribution) / max(maxAbs, 1e-12))
      lines += "<line class=\"edge\" x1=\"\(format(p.0 + 8, 6))\" y1=\"\(format(p.1, 6))\" x2=\"\(format(q.0 - 8, 6))\" y2=\"\(format(q.1, 6))\" stroke=\"\(e.attribution >= 0 ? "#2e6fb5" : "#c0392b")\" stroke-opacity=\"0.55\" stroke-width=\"\(format(width, 3))\"><title>\(escape(e.upstreamSae)) #\(e.upstream) → \(escape(e.downstreamSae)) #\(e.downstream): \(format(Double(e.attribution), 4))</title></line>"
    }
    return "<svg id=\"graph\" width=\"\(Int(w))\" height=\"\(Int(h))\" style=\"background:#fff;border:1px solid #dde2e8\">\(lines)\(nodes)</svg>"
  }

  static func prompt(_ explorer: Explorer, text: String, edges: Int, analysis: PromptAnalysis?) -> String {
    var result = ""
    if let a = analysis {
      // Per token and per SAE: the features that fire (a table with one row per SAE, one column per token).
      var header = "<tr><th class=\"l\">SAE</th>"
      for (i, t) in a.tokens.enumerated() { header += "<th title=\"token \(i)\"><code>\(visible(t.text))</code></th>" }
      header += "</tr>"
      var rows = ""
      for l in a.layers {
        rows += "<tr><td class=\"l\"><b>\(escape(l.sae))</b></td>"
        for acts in l.tokens {
          let cells = acts.prefix(3).map { "<a class=\"feat\" href=\"/feature/\(escape(l.sae))/\($0.feature)\" title=\"\(format(Double($0.magnitude)))\">\($0.feature)</a>" }
          rows += "<td class=\"l\" style=\"vertical-align:top;font-size:11px\">\(cells.joined(separator: "<br>"))\(acts.count > 3 ? "<br><span class=\"muted\">+\(acts.count - 3)</span>" : "")</td>"
        }
        rows += "</tr>"
      }
      var pairRows = ""
      for p in a.pairs {
        pairRows += "<tr><td class=\"l\">\(escape(p.upstreamSae)) → \(escape(p.downstreamSae))</td><td>\(p.activeEdges)</td><td>\(p.keptEdges)</td>"
          + "<td class=\"kl\">\(format(Double(p.klFullModel), 4))</td><td>\(format(Double(p.klCircuit), 4))</td></tr>"
      }
      let pairs = a.pairs.isEmpty ? "<p class=\"muted\" id=\"pairs\">\(escape(a.note ?? "no SAE pairs"))</p>"
        : "<table id=\"pairs\"><tr><th class=\"l\">pair</th><th>edges among active features</th><th>edges kept</th><th>KL vs full model</th><th>KL vs unpruned circuit</th></tr>\(pairRows)</table>"
      result = """
        <h2>Features per token</h2><p class="muted">\(a.tokens.count) tokens; the three strongest features per token and SAE (hover for the magnitude).</p>
        <div style="overflow-x:auto"><table id="activations">\(header)\(rows)</table></div>
        <h2>Circuit: top \(a.edges) edges per pair among the active features</h2>\(graph(a))
        <h2>Pruned circuit (the same pruned forward as <code>ablate</code>)</h2>\(pairs)
        <p class="muted">computed in \(format(a.seconds, 3)) s</p>
        """
    }
    let body = """
      <h1>Prompt</h1>
      <form id="prompt-form" method="get" action="/prompt">
      <textarea name="text" id="text" rows="3" maxlength="4000" placeholder="ROMEO:">\(escape(text))</textarea><br>
      <label>Edges per pair <input type="number" name="edges" id="edges" min="1" max="\(PromptAnalysis.maxEdges)" value="\(edges)"></label>
      <button type="submit" id="run">Run</button> <span id="status" class="muted"></span></form>
      <script>
      document.getElementById('prompt-form').addEventListener('submit', function () {
        document.getElementById('status').textContent = 'running the model…';
      });
      </script>
      <div id="result">\(result)</div>
      <p class="muted">JSON: POST /api/prompt with {"text": "…", "edges": N}</p>
      """
    return page("Prompt", explorer, body)
  }

  // MARK: results

  static func results(_ explorer: Explorer, _ s: ExplorerResults.Summary) -> String {
    var table = "<tr><th class=\"l\">placement</th><th>layer</th>"
    for label in s.series { table += "<th>AUC \(escape(label))</th>" }
    for label in s.series where label != s.baseline { table += "<th>\(escape(label)) vs \(escape(s.baseline))</th>" }
    table += "</tr>"
    var plots = ""
    for l in s.layers {
      table += "<tr><td class=\"l\">\(escape(l.placement))</td><td>\(l.layer)</td>"
      for label in s.series {
        let c = l.curves.first { $0.series == label }
        table += "<td>\(c.map { "\(format($0.auc, 4)) ± \(format($0.aucError, 2))" } ?? "–")</td>"
      }
      for label in s.series where label != s.baseline {
        let c = l.curves.first { $0.series == label }
        table += "<td>\(c?.improvement.map { String(format: "%+.1f%%", $0 * 100) } ?? "–")</td>"
      }
      table += "</tr>"
      plots += "<div class=\"plot\">\(l.svg)</div>"
    }
    let body = """
      <h1>Ablation results</h1><p>\(escape(s.directory)) — series \(s.series.map(escape).joined(separator: ", ")); baseline \(escape(s.baseline))</p>
      <h2>Area under the KL curve</h2><table id="auc">\(table)</table>
      <h2>KL divergence against the number of edges kept</h2><div class="cols">\(plots)</div>
      <p class="muted">JSON: <a href="/api/results">/api/results</a></p>
      """
    return page("Results", explorer, body)
  }
}
