#!/usr/bin/python3
"""Drives a headless Chromium over the DevTools protocol for the dashboard lab test.

  cdp.py launch PORT URL PROFILE_DIR   start Chromium on URL (prints its pid), wait for the page
  cdp.py eval PORT EXPRESSION          evaluate JS in the page (no reload), print the JSON value
  cdp.py shot PORT FILE                save a PNG screenshot of the whole page

Chromium keeps running between calls, so the page keeps polling as a browser left open
would. Needs Debian's python3-websocket (run with /usr/bin/python3).
"""
import base64
import json
import subprocess
import sys
import time
import urllib.request

import websocket


def page_ws(port, timeout=20.0):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=2) as r:
                for t in json.load(r):
                    if t.get("type") == "page":
                        return t["webSocketDebuggerUrl"]
        except OSError as e:
            last = e
        time.sleep(0.2)
    raise SystemExit(f"no page on the DevTools port {port}: {last}")


class Page:
    def __init__(self, port):
        self.ws = websocket.create_connection(page_ws(port), timeout=30, suppress_origin=True)
        self.n = 0

    def call(self, method, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            m = json.loads(self.ws.recv())
            if m.get("id") == self.n:
                if "error" in m:
                    raise SystemExit(f"{method}: {m['error']}")
                return m["result"]

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise SystemExit(f"JS exception: {r['exceptionDetails'].get('text')} in {expr[:80]}")
        return r["result"].get("value")


def main():
    cmd, port = sys.argv[1], sys.argv[2]
    if cmd == "launch":
        url, profile = sys.argv[3], sys.argv[4]
        p = subprocess.Popen(
            ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-dev-shm-usage", "--hide-scrollbars", f"--remote-debugging-port={port}",
             "--remote-allow-origins=*", f"--user-data-dir={profile}", "--window-size=1500,1900", url],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(f"{profile}.log", "w"),
            start_new_session=True)
        print(p.pid, flush=True)
        page_ws(port, timeout=40)
    elif cmd == "eval":
        print(json.dumps(Page(port).eval(sys.argv[3])))
    elif cmd == "shot":
        page = Page(port)
        m = page.call("Page.getLayoutMetrics")["cssContentSize"]
        page.call("Emulation.setDeviceMetricsOverride", width=1500, height=int(min(m["height"], 4000)),
                  deviceScaleFactor=1, mobile=False)
        png = page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        with open(sys.argv[3], "wb") as f:
            f.write(base64.b64decode(png))
        page.call("Emulation.clearDeviceMetricsOverride")
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
