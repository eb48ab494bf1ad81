#!/usr/bin/env python3
"""End-to-end check of the explorer in a real headless browser (Debian's chromium), driven over the DevTools
protocol through --remote-debugging-pipe (no npm, no extra Python packages).

    browser.py BASE_URL SCREENSHOT_DIR

Opens the overview and a live feature page, follows an upstream edge link, submits a prompt through the form,
and checks what each page shows; saves a PNG screenshot of every page visited (and of the results page when the
server has results). Exits 1 with one line on the first failed check.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time


class Browser:
    def __init__(self):
        exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
        if not exe:
            fail("no chromium on PATH (apt-get install chromium)")
        self.profile = tempfile.mkdtemp(prefix="explorer-e2e-")
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()
        # The pipe protocol reads commands on fd 3 and writes answers on fd 4.
        def setup():
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)
        args = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--remote-debugging-pipe", "--user-data-dir=" + self.profile, "--window-size=1280,1000",
                "--hide-scrollbars", "--no-first-run", "--no-default-browser-check", "about:blank"]
        self.proc = subprocess.Popen(args, preexec_fn=setup, pass_fds=(3, 4),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.next_id = 0
        self.buffer = b""
        self.events = []
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next((t for t in targets if t["type"] == "page"), None)
        target = page["targetId"] if page else self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable", session=True)
        self.call("Runtime.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=1280, height=1000, deviceScaleFactor=1, mobile=False)

    def read_message(self, deadline):
        while b"\0" not in self.buffer:
            if time.time() > deadline:
                fail("the browser did not answer in time")
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                fail("the browser closed the DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method, session=False, timeout=60, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            m = self.read_message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    fail(f"{method}: {m['error'].get('message')}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, name, timeout=60):
        deadline = time.time() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == name:
                    del self.events[: i + 1]
                    return e
            self.events.clear()
            self.events.append(self.read_message(deadline))

    def navigate(self, url):
        self.events.clear()
        self.call("Page.navigate", session=True, url=url)
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        if "exceptionDetails" in r:
            fail(f"script error in {expression!r}: {r['exceptionDetails'].get('text')}")
        return r["result"].get("value")

    def click_and_wait(self, expression):
        """Runs an expression that navigates (a click, a form submission) and waits for the new page."""
        self.events.clear()
        self.evaluate(expression)
        self.wait_event("Page.loadEventFired", timeout=120)

    def screenshot(self, path):
        r = self.call("Page.captureScreenshot", session=True, format="png", captureBeyondViewport=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
        except SystemExit:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def fail(message):
    print(f"e2e: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)
    print(f"e2e: ok: {message}", file=sys.stderr)


def main():
    if len(sys.argv) != 3:
        fail("usage: browser.py BASE_URL SCREENSHOT_DIR")
    base, shots = sys.argv[1].rstrip("/"), sys.argv[2]
    os.makedirs(shots, exist_ok=True)
    b = Browser()
    try:
        # Overview: every SAE listed with a link.
        b.navigate(base + "/")
        saes = b.evaluate("[...document.querySelectorAll('#saes a')].map(a => a.textContent)")
        check(len(saes) >= 2, f"overview lists the SAEs {saes}")
        b.screenshot(os.path.join(shots, "overview.png"))

        # A live feature of the second SAE (it has upstream edges): pick the most frequent one from the SAE page.
        b.navigate(base + "/sae/" + saes[1])
        check(b.evaluate("document.querySelector('h1').textContent") == "SAE " + saes[1], "the SAE page has its title")
        feature = b.evaluate("document.querySelector('#features tr:nth-child(2) a').getAttribute('href')")
        b.screenshot(os.path.join(shots, "sae.png"))
        b.navigate(base + feature)
        title = b.evaluate("document.getElementById('title').textContent")
        check(title.startswith(saes[1] + " #"), f"the feature page {feature} shows {title}")
        contexts = b.evaluate("document.querySelectorAll('#contexts .ctx').length")
        check(contexts > 0, f"the feature page shows {contexts} top contexts")
        focus = b.evaluate("document.querySelectorAll('#contexts .tok.focus').length")
        check(focus == contexts, "every context highlights its maximum token")
        shaded = b.evaluate("[...document.querySelectorAll('#contexts .tok')].filter(s => getComputedStyle(s).backgroundColor !== 'rgba(230, 126, 34, 0)').length")
        check(shaded >= contexts, f"{shaded} tokens are shaded by magnitude")
        bars = b.evaluate("document.querySelectorAll('#histogram rect').length")
        check(bars > 0, f"the histogram has {bars} bars")
        promoted = b.evaluate("document.querySelectorAll('#promoted tr').length")
        check(promoted > 0, f"the logit effects list {promoted} promoted tokens")
        b.screenshot(os.path.join(shots, "feature.png"))

        # Follow the strongest upstream edge.
        link = b.evaluate("(document.querySelector('#upstream a') || {}).href")
        check(bool(link), f"the feature page links an upstream edge ({link})")
        b.click_and_wait("document.querySelector('#upstream a').click()")
        url = b.evaluate("location.href")
        check(url == link, f"following the edge opens {url}")
        title2 = b.evaluate("document.getElementById('title').textContent")
        check(title2.startswith(saes[0] + " #"), f"the linked page is the upstream feature {title2}")
        down = b.evaluate("[...document.querySelectorAll('#downstream a')].map(a => a.getAttribute('href'))")
        check(feature in down or len(down) > 0, "the upstream feature lists its downstream edges")
        b.screenshot(os.path.join(shots, "feature-upstream.png"))

        # Submit a prompt through the form.
        b.navigate(base + "/prompt")
        b.evaluate("document.getElementById('text').value = 'ROMEO:\\nBut soft, what light'; document.getElementById('edges').value = '12'")
        b.click_and_wait("document.getElementById('prompt-form').requestSubmit()")
        tokens = b.evaluate("document.querySelectorAll('#activations tr:first-child th').length - 1")
        check(tokens == 27, f"the prompt page shows the prompt's 27 tokens ({tokens})")
        rows = b.evaluate("document.querySelectorAll('#activations tr').length - 1")
        check(rows == len(saes), f"one row of features per SAE ({rows})")
        edges = b.evaluate("document.querySelectorAll('#graph line.edge').length")
        check(edges > 0, f"the circuit graph draws {edges} edges")
        widths = b.evaluate("new Set([...document.querySelectorAll('#graph line.edge')].map(l => l.getAttribute('stroke-width'))).size")
        check(widths > 1, f"edge widths follow the attribution ({widths} distinct widths)")
        kls = b.evaluate("[...document.querySelectorAll('#pairs td.kl')].map(td => parseFloat(td.textContent))")
        check(len(kls) == len(saes) - 1 and all(k >= 0 for k in kls), f"the pruned circuit's KL per pair {kls}")
        text = b.evaluate("document.getElementById('text').value")
        check(text == "ROMEO:\nBut soft, what light", "the form keeps the prompt")
        b.screenshot(os.path.join(shots, "prompt.png"))

        has_results = b.evaluate("!!document.querySelector('header a[href=\"/results\"]')")
        if has_results:
            b.navigate(base + "/results")
            rows = b.evaluate("document.querySelectorAll('#auc tr').length - 1")
            check(rows > 0, f"the results page has an AUC table of {rows} rows")
            check(b.evaluate("document.querySelectorAll('.plot svg').length") == rows, "one plot per row")
            b.screenshot(os.path.join(shots, "results.png"))
        print(f"e2e: passed; screenshots in {shots}", file=sys.stderr)
    finally:
        b.close()


if __name__ == "__main__":
    main()
