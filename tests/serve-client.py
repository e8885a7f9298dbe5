#!/usr/bin/env python3
"""Raw-socket clients for tests/cli-serve.sh (127.0.0.1 only, every loop bounded).

  serve-client.py load PORT CLIENTS REQUESTS   concurrent completions; prints status counts
  serve-client.py slow PORT SECONDS            sends a request head one byte every 0.5 s;
                                               prints the status the server answered with
  serve-client.py drop PORT MODE               streams a completion and leaves: MODE "now"
                                               closes right after sending, "first" after the
                                               first event, "prompt" right after sending a
                                               2000-token prompt
  serve-client.py busy PORT KEY                streams a 1900-token completion and, once its
                                               first event is in (the slot is generating),
                                               asks for another; prints that answer's status
                                               and body, then the stream's end
  serve-client.py conns PORT N                 holds N idle connections; prints the status of
                                               GET /health on one more
  serve-client.py raw PORT HEX                 sends bytes, prints the status line's code
"""
import http.client
import json
import select
import socket
import sys
import threading
import time


def load(port, clients, requests):
    counts = {}
    lock = threading.Lock()

    def worker(i):
        conn = None
        for k in range(requests):
            status = "error"
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                body = json.dumps({"prompt": "Once upon a time", "max_tokens": 16,
                                   "temperature": 0.8, "seed": i * 1000 + k})
                conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
                r = conn.getresponse()
                data = r.read()
                status = r.status
                if status == 200:
                    json.loads(data)["choices"][0]["text"]
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except Exception as e:  # counted as a failure by the caller
                status = "error:" + type(e).__name__
                if conn is not None:
                    conn.close()
                conn = None
            with lock:
                counts[status] = counts.get(status, 0) + 1
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    print(json.dumps({str(k): v for k, v in counts.items()}))


def read_status(sock, timeout):
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        return "timeout"
    line = data.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    return parts[1] if len(parts) > 1 else "closed"


def slow(port, seconds):
    head = b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n{\"prompt\": \"hello\"}"
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    t0 = time.time()
    sent = 0
    try:
        while sent < len(head) and time.time() - t0 < seconds:
            if select.select([sock], [], [], 0)[0]:
                break  # the server answered (or closed)
            sock.sendall(head[sent:sent + 1])
            sent += 1
            time.sleep(0.5)
    except OSError:
        pass
    print(read_status(sock, 5), round(time.time() - t0, 1))
    sock.close()


def drop(port, mode):
    prompt = "a" * 2000 if mode == "prompt" else "Once upon a time"
    body = json.dumps({"prompt": prompt, "max_tokens": 1900, "temperature": 0,
                       "stream": True, "ignore_eos": True}).encode()
    req = (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(req)
    if mode == "first":
        data = b""
        while b"data: " not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    sock.close()
    print("dropped")


def busy(port, key):
    """The slot is held by a stream that is still generating when the second request arrives:
    no polling race, since the second request is sent the moment the first event is read. A
    thread reads the stream throughout, so the server never waits on this client."""
    body = json.dumps({"prompt": "Once upon a time", "max_tokens": 1900, "temperature": 0,
                       "stream": True, "ignore_eos": True}).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Authorization: Bearer " + key.encode() + b"\r\nContent-Length: " +
                 str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
    got = {"data": b""}
    first = threading.Event()

    def reader():
        t0 = time.time()
        try:
            while time.time() - t0 < 120:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                got["data"] += chunk
                if b"data: " in got["data"]:
                    first.set()
                if b"data: [DONE]" in got["data"]:
                    break
        except OSError:
            pass
        first.set()

    t = threading.Thread(target=reader)
    t.start()
    first.wait(120)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/v1/completions", body=b'{"prompt":"x","max_tokens":1}',
                 headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    resp = conn.getresponse()
    print(resp.status, resp.read().decode("utf-8", "replace"))
    conn.close()
    t.join(130)
    sock.close()
    data = got["data"]
    print("stream:", "done" if b"data: [DONE]" in data else "cut", data.count(b"data: ") - 1, "events")


def conns(port, n):
    """Holds n idle connections open, then asks for /health on one more."""
    held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(n)]
    time.sleep(0.3)  # the server has accepted them
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        print(read_status(sock, 10))
    except OSError as e:
        print("error:" + type(e).__name__)
    sock.close()
    for h in held:
        h.close()


def raw(port, hexdata):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(bytes.fromhex(hexdata))
    print(read_status(sock, 10))
    sock.close()


if __name__ == "__main__":
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == "load":
        load(port, int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "slow":
        slow(port, float(sys.argv[3]))
    elif cmd == "drop":
        drop(port, sys.argv[3])
    elif cmd == "busy":
        busy(port, sys.argv[3])
    elif cmd == "conns":
        conns(port, int(sys.argv[3]))
    elif cmd == "raw":
        raw(port, sys.argv[3])
    else:
        sys.exit("unknown command " + cmd)
