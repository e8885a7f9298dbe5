#!/usr/bin/env python3
"""Benchmarks an OpenAI-compatible server (`edgelm serve` or llama-server) on 127.0.0.1.

  scripts/serve_bench.py PORT [--clients 1,2,8] [--requests 8] [--max-tokens 64]
                              [--prompt TEXT] [--label NAME]

For each client count C: C threads each send --requests streamed completions one after the
other ("ignore_eos": true, temperature 0, so every request generates --max-tokens tokens).
Prints a Markdown row per C: requests/s and generated tokens/s over the wall time, median
time to first token (first streamed text), and median request time. Then the per-request
overhead: the median time of 20 sequential 1-token completions of a 1-word prompt.
"""
import argparse
import http.client
import json
import statistics
import threading
import time


def stream_completion(port, prompt, max_tokens):
    """Returns (seconds to first text, total seconds, generated tokens)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    body = json.dumps({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
                       "ignore_eos": True, "stream": True})
    t0 = time.perf_counter()
    conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    r = conn.getresponse()
    if r.status != 200:
        raise RuntimeError("status %d: %s" % (r.status, r.read()[:200]))
    ttft, n = None, 0
    for raw in r:
        line = raw.decode("utf-8", "replace").strip()
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        ev = json.loads(line[6:])
        for c in ev.get("choices", []):
            if c.get("text"):
                n += 1
                if ttft is None:
                    ttft = time.perf_counter() - t0
    total = time.perf_counter() - t0
    conn.close()
    return ttft if ttft is not None else total, total, n


def run(port, clients, requests, prompt, max_tokens):
    results, lock = [], threading.Lock()

    def worker():
        for _ in range(requests):
            res = stream_completion(port, prompt, max_tokens)
            with lock:
                results.append(res)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return wall, results


def overhead(port):
    times = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(20):
        body = json.dumps({"prompt": "Once", "max_tokens": 1, "temperature": 0})
        t0 = time.perf_counter()
        conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        times.append(time.perf_counter() - t0)
    conn.close()
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--clients", default="1,2,8")
    ap.add_argument("--requests", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--prompt", default="Once upon a time, there was a little girl named Lily.")
    ap.add_argument("--label", default="server")
    a = ap.parse_args()
    stream_completion(a.port, a.prompt, 4)  # warm-up
    for c in [int(x) for x in a.clients.split(",")]:
        wall, res = run(a.port, c, a.requests, a.prompt, a.max_tokens)
        toks = sum(r[2] for r in res)
        print("| %s | %d | %d | %.2f | %.1f | %.1f | %.1f |" % (
            a.label, c, len(res), len(res) / wall, toks / wall,
            1e3 * statistics.median(r[0] for r in res), 1e3 * statistics.median(r[1] for r in res)))
    print("| %s | overhead: 1-token completion, median | | | | | %.2f ms |" % (a.label, 1e3 * overhead(a.port)))


if __name__ == "__main__":
    main()
