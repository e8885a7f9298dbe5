#!/usr/bin/env python3
"""Benchmarks an OpenAI-compatible server (`edgelm serve` or llama-server) on 127.0.0.1.

  scripts/serve_bench.py PORT [--clients 1,2,8] [--requests 8] [--max-tokens 64]
                              [--prompt TEXT] [--label NAME]

For each client count C: C threads each send --requests streamed completions one after the
other ("ignore_eos": true, temperature 0, so every request generates --max-tokens tokens).
Prints a Markdown row per C: requests/s and generated tokens/s over the wall time, median
time to first token (first streamed text), and median request time. Then the time to first
token alone (one client, --ttft-samples streamed 2-token completions of the same prompt, the
median: more samples than the rows above, which a loaded machine makes noisy) and the
per-request overhead: the median time of 20 sequential 1-token completions of a 1-word prompt,
and of 20 empty ones (max_tokens 0: the prompt is evaluated, nothing generated).
"""
import argparse
import http.client
import json
import socket
import statistics
import threading
import time


def stream_completion(port, prompt, max_tokens):
    """Returns (seconds to first text, total seconds, generated tokens).

    Reads the socket itself, unbuffered: http.client's line iterator over a chunked response
    waits to fill its buffer, so the "first text" it reports comes several events late (by
    more on a server whose events are smaller)."""
    body = json.dumps({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
                       "ignore_eos": True, "stream": True}).encode()
    req = (b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    t0 = time.perf_counter()
    sock = socket.create_connection(("127.0.0.1", port), timeout=600)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(req)
    raw, head, chunked, data, pos = b"", None, False, b"", 0
    ttft, n, done = None, 0, False
    while not done:
        b = sock.recv(65536)
        if not b:
            break
        raw += b
        if head is None:
            at = raw.find(b"\r\n\r\n")
            if at < 0:
                continue
            head, raw = raw[:at].decode("latin-1"), raw[at + 4:]
            status = int(head.split()[1])
            if status != 200:
                raise RuntimeError("status %d" % status)
            chunked = "chunked" in head.lower()
        if chunked:  # move whole chunks from raw to data
            while True:
                at = raw.find(b"\r\n")
                if at < 0:
                    break
                size = int(raw[:at].split(b";")[0], 16)
                if size == 0:
                    done = True
                    break
                if len(raw) < at + 2 + size + 2:
                    break
                data += raw[at + 2:at + 2 + size]
                raw = raw[at + 2 + size + 2:]
        else:
            data, raw = data + raw, b""
        while True:  # whole events
            at = data.find(b"\n\n", pos)
            if at < 0:
                break
            ev, data = data[:at].decode("utf-8", "replace"), data[at + 2:]
            for line in ev.split("\n"):
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                for c in json.loads(line[6:]).get("choices", []):
                    if c.get("text"):
                        n += 1
                        if ttft is None:
                            ttft = time.perf_counter() - t0
    total = time.perf_counter() - t0
    sock.close()
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


def overhead(port, max_tokens=1):
    times = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(20):
        body = json.dumps({"prompt": "Once", "max_tokens": max_tokens, "temperature": 0})
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
    ap.add_argument("--ttft-samples", type=int, default=60)
    a = ap.parse_args()
    stream_completion(a.port, a.prompt, 4)  # warm-up
    for c in [int(x) for x in a.clients.split(",")]:
        wall, res = run(a.port, c, a.requests, a.prompt, a.max_tokens)
        toks = sum(r[2] for r in res)
        print("| %s | %d | %d | %.2f | %.1f | %.1f | %.1f |" % (
            a.label, c, len(res), len(res) / wall, toks / wall,
            1e3 * statistics.median(r[0] for r in res), 1e3 * statistics.median(r[1] for r in res)))
    ttft = [stream_completion(a.port, a.prompt, 2)[0] for _ in range(a.ttft_samples)]
    print("| %s | time to first token, 1 client, median of %d | | | | %.2f ms | |" % (
        a.label, a.ttft_samples, 1e3 * statistics.median(ttft)))
    print("| %s | overhead: 1-token completion, median | | | | | %.2f ms |" % (a.label, 1e3 * overhead(a.port)))
    print("| %s | overhead: empty completion (max_tokens 0), median | | | | | %.2f ms |" % (
        a.label, 1e3 * overhead(a.port, 0)))


if __name__ == "__main__":
    main()
