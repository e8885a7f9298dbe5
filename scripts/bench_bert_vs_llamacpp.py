#!/usr/bin/python3
"""edgelm bert-bench and llama.cpp's llama-bench -embd 1 side by side, in one run (docs/benchmarks-log.md,
"BERT", "Side by side with llama.cpp").

    scripts/bench_bert_vs_llamacpp.py --llama-bench /tmp/llama.cpp/build/bin/llama-bench \\
        --edgelm build/edgelm [--reps 3] [-t 1,2] [-p 128,512] [--raw FILE] MODEL.gguf ...

The models must load in both programs: convert with `edgelm convert ... --no-heads` (llama.cpp
refuses a bert file with tensors it does not know, e.g. the masked-LM head). For every model and
thread count the two programs run alternately (which one goes first alternates too), one
repetition each (`-r 1` / `--reps 1`, each after its own untimed warm-up run), `reps` times
over:

    edgelm bert-bench -m M -t T --tokens 128,512 --batch 1 --reps 1 -o json
    llama-bench -m M -embd 1 -p 128,512 -n 0 -t T -r 1 -o json

Both encode one sentence of N random token ids per run (the encoder; llama.cpp also pools the
embedding, which costs one row). The table shows the medians of tokens/s, the ratio ours /
llama.cpp, and sentences/s (tokens/s / N). Before each pair the script waits (--quiet,
--max-wait) until other processes use less than 10% of the CPUs; the table shows the 1-minute
load average before each model/thread row and the largest share of the CPUs the others used
just before a pair. It also measures what the others used *during* each pair (all CPU time
in /proc/stat minus this script's children's, over the pair's wall time): a pair during which
they used more than --quiet of the CPUs is discarded and run again (up to --redo times; the
last attempt is kept and counted in the "disturbed" column). `uptime` is printed at the start
and the end.
"""
import argparse, json, os, resource, statistics, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_vs_llamacpp import load1, run_json, wait_quiet  # noqa: E402


def cpu_ticks():
    """(all CPUs' busy seconds, wall seconds x CPUs) so far, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(v) - v[3] - v[4]) / hz, sum(v) / hz


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llama-bench", required=True)
    ap.add_argument("--edgelm", default="build/edgelm")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("-t", default="1,2")
    ap.add_argument("-p", default="128,512", help="sentence lengths in tokens")
    ap.add_argument("--raw", help="write every sample here (JSON)")
    ap.add_argument("--quiet", type=float, default=0.1)
    ap.add_argument("--max-wait", type=float, default=60)
    ap.add_argument("--redo", type=int, default=3, help="re-runs of a pair disturbed by other processes")
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()
    threads = [int(x) for x in a.t.split(",")]
    lens = [int(x) for x in a.p.split(",")]
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), flush=True)
    print("| model | threads | tokens | edgelm t/s | llama.cpp t/s | ratio | edgelm sent/s | llama.cpp sent/s | load | others' CPU before / during | disturbed |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |", flush=True)
    raw = []
    for m in a.models:
        name = os.path.basename(m)[:-5] if m.endswith(".gguf") else os.path.basename(m)
        for t in threads:
            ld = load1()
            ours, theirs, busy, during, disturbed = {}, {}, [], [], 0
            for r in range(a.reps):
                ecmd = [a.edgelm, "bert-bench", "-m", m, "-t", str(t), "--tokens", a.p, "--batch", "1",
                        "--reps", "1", "-o", "json"]
                lcmd = [a.llama_bench, "-m", m, "-embd", "1", "-p", a.p, "-n", "0", "-t", str(t), "-r", "1",
                        "-o", "json"]
                for attempt in range(a.redo + 1):
                    b0 = wait_quiet(a.quiet, a.max_wait)
                    busy0, all0 = cpu_ticks()
                    c0 = children_cpu()
                    got_e, got_l = {}, {}
                    for which in ((0, 1) if r % 2 == 0 else (1, 0)):
                        if which == 0:
                            for o in run_json(ecmd):
                                got_e[o["n_tokens"]] = o["avg_ts"]
                        else:
                            for o in run_json(lcmd):
                                got_l[o["n_prompt"]] = o["avg_ts"]
                    busy1, all1 = cpu_ticks()
                    others = max(0.0, (busy1 - busy0) - (children_cpu() - c0)) / max(1e-9, all1 - all0)
                    if others <= a.quiet or attempt == a.redo:
                        break
                    print("  (%s, %d threads, rep %d: others used %.0f%% of the CPUs during the pair: again)"
                          % (name, t, r, 100 * others), file=sys.stderr, flush=True)
                disturbed += others > a.quiet
                busy.append(b0)
                during.append(others)
                for n, v in got_e.items():
                    ours.setdefault(n, []).append(v)
                for n, v in got_l.items():
                    theirs.setdefault(n, []).append(v)
            raw.append({"model": m, "threads": t, "edgelm": ours, "llama.cpp": theirs, "load1": ld, "busy": busy,
                        "during": during})
            for n in lens:
                e = statistics.median(ours[n])
                l = statistics.median(theirs.get(n, [float("nan")]))
                print("| %s | %d | %d | %.1f | %.1f | **%.2f** | %.3f | %.3f | %.2f | %.0f%% / %.0f%% | %d of %d |"
                      % (name, t, n, e, l, e / l, e / n, l / n, ld, 100 * max(busy), 100 * max(during),
                         disturbed, a.reps), flush=True)
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), flush=True)
    if a.raw:
        with open(a.raw, "w") as f:
            json.dump(raw, f, indent=1)


if __name__ == "__main__":
    main()
