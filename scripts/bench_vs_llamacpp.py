#!/usr/bin/python3
"""edgelm bench -m and llama.cpp's llama-bench side by side, in one run (docs/benchmarks-log.md,
"GPT decoders").

    scripts/bench_vs_llamacpp.py --llama-bench /tmp/llama.cpp/build/bin/llama-bench \\
        --edgelm build/edgelm [--reps 5] [-t 1,2] [-p 64] [-n 128] [--kv-f16] \\
        MODEL.gguf [MODEL.gguf ...]

For every model and thread count, the two programs run alternately, one repetition each
(`-r 1`, each with its own warm-up), `reps` times over; the table shows the medians of the
tokens/s of each test, the ratio ours / llama.cpp, and generation as a share of the memory read
bandwidth that edgelm measured right before its generation test (weight bytes read per token
× tokens/s ÷ bandwidth; llama.cpp's share uses the bandwidth of the adjacent edgelm run).
Before each pair of runs the script waits (--quiet, --max-wait) until other processes use
less than 10% of the CPUs; the table shows the 1-minute load average before each model and the
largest share of the CPUs the others used just before a pair: on a shared machine, re-run the
rows where it is high. Raw samples go to --raw FILE (JSON) when given.
"""
import argparse, json, os, statistics, subprocess, sys, time


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out[out.index("["):])


def load1():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def cpu_busy(sec=1.0):
    """Share of all CPUs' time that other processes used over the next sec seconds."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]  # total, idle + iowait
    t0, i0 = snap()
    time.sleep(sec)
    t1, i1 = snap()
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


def wait_quiet(limit, max_wait):
    """Waits (up to max_wait s) until the others use less than `limit` of the CPUs; returns
    the last busy share seen."""
    t_end = time.time() + max_wait
    while True:
        b = cpu_busy()
        if b < limit or time.time() > t_end:
            return b
        time.sleep(2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llama-bench", required=True)
    ap.add_argument("--edgelm", default="build/edgelm")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("-t", default="1,2")
    ap.add_argument("-p", default="64")
    ap.add_argument("-n", default="128")
    ap.add_argument("--kv-f16", action="store_true", help="F16 KV cache for edgelm too")
    ap.add_argument("--raw")
    ap.add_argument("--edgelm-args", default="",
                    help="more options for edgelm bench, one string (e.g. \"--bw-mib 1024\")")
    ap.add_argument("--llama-args", default="",
                    help="more options for llama-bench, one string (e.g. \"-fa 0 -ot .*=CPU\")")
    ap.add_argument("--quiet", type=float, default=0.1,
                    help="before each pair of runs, wait until other processes use less than this "
                         "share of the CPUs (measured over 1 s; at most --max-wait s)")
    ap.add_argument("--max-wait", type=float, default=60)
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()
    threads = [int(x) for x in a.t.split(",")]
    rows, raw = [], []
    print("| model | threads | test | edgelm t/s | llama.cpp t/s | ratio | edgelm % of read bw | llama.cpp % of read bw | read bw GB/s | load | others' CPU |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for m in a.models:
        name = os.path.basename(m)[:-5] if m.endswith(".gguf") else os.path.basename(m)
        for t in threads:
            ld = load1()
            ours, theirs, busy = {}, {}, []
            for r in range(a.reps):
                busy.append(wait_quiet(a.quiet, a.max_wait))
                cmd = [a.edgelm, "bench", "-m", m, "-t", str(t), "-p", a.p, "-n", a.n, "-r", "1", "-o", "json"]
                if a.kv_f16:
                    cmd.append("--kv-f16")
                cmd += a.edgelm_args.split()
                for o in run_json(cmd):
                    ours.setdefault(o["test"], []).append(o)
                lcmd = [a.llama_bench, "-m", m, "-t", str(t), "-p", a.p, "-n", a.n, "-r", "1", "-o", "json"]
                lcmd += a.llama_args.split()
                for o in run_json(lcmd):
                    test = "pp%d" % o["n_prompt"] if o["n_gen"] == 0 else "tg%d" % o["n_gen"]
                    theirs.setdefault(test, []).append(o)
            raw.append({"model": m, "threads": t, "edgelm": ours, "llama.cpp": theirs, "load1": ld, "busy": busy})
            for test in ours:
                e = statistics.median(o["avg_ts"] for o in ours[test])
                l = statistics.median(o["avg_ts"] for o in theirs.get(test, [{"avg_ts": float("nan")}]))
                bw = ebw = lbw = ""
                if test.startswith("tg"):
                    bws = [o["read_bw_gbps"] for o in ours[test]]
                    bpt = ours[test][0]["weight_bytes_per_token"]
                    rb = statistics.median(bws)
                    ebw = "%.0f%%" % (100 * statistics.median(o["bw_fraction"] for o in ours[test]))
                    lbw = "%.0f%%" % (100 * statistics.median(
                        bpt * x["avg_ts"] / (b * 1e9) for x, b in zip(theirs[test], bws)))
                    bw = "%.1f" % rb
                print("| %s | %d | %s | %.1f | %.1f | %.2f | %s | %s | %s | %.2f | %.0f%% |"
                      % (name, t, test, e, l, e / l, ebw, lbw, bw, ld, 100 * max(busy)), flush=True)
    if a.raw:
        with open(a.raw, "w") as f:
            json.dump(raw, f, indent=1)


if __name__ == "__main__":
    main()
