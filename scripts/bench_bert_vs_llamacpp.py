#!/usr/bin/python3
"""edgelm bert-bench and llama.cpp's llama-bench -embd 1 side by side, in one run (BENCHMARKS.md,
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
just before a pair (the machine is shared: re-run rows where it is high). `uptime` is printed
at the start and the end.
"""
import argparse, json, os, statistics, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_vs_llamacpp import load1, run_json, wait_quiet  # noqa: E402


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
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()
    threads = [int(x) for x in a.t.split(",")]
    lens = [int(x) for x in a.p.split(",")]
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), flush=True)
    print("| model | threads | tokens | edgelm t/s | llama.cpp t/s | ratio | edgelm sent/s | llama.cpp sent/s | load | others' CPU |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |", flush=True)
    raw = []
    for m in a.models:
        name = os.path.basename(m)[:-5] if m.endswith(".gguf") else os.path.basename(m)
        for t in threads:
            ld = load1()
            ours, theirs, busy = {}, {}, []
            for r in range(a.reps):
                busy.append(wait_quiet(a.quiet, a.max_wait))
                ecmd = [a.edgelm, "bert-bench", "-m", m, "-t", str(t), "--tokens", a.p, "--batch", "1",
                        "--reps", "1", "-o", "json"]
                lcmd = [a.llama_bench, "-m", m, "-embd", "1", "-p", a.p, "-n", "0", "-t", str(t), "-r", "1",
                        "-o", "json"]
                for which in ((0, 1) if r % 2 == 0 else (1, 0)):
                    if which == 0:
                        for o in run_json(ecmd):
                            ours.setdefault(o["n_tokens"], []).append(o["avg_ts"])
                    else:
                        for o in run_json(lcmd):
                            theirs.setdefault(o["n_prompt"], []).append(o["avg_ts"])
            raw.append({"model": m, "threads": t, "edgelm": ours, "llama.cpp": theirs, "load1": ld, "busy": busy})
            for n in lens:
                e = statistics.median(ours[n])
                l = statistics.median(theirs.get(n, [float("nan")]))
                print("| %s | %d | %d | %.1f | %.1f | **%.2f** | %.3f | %.3f | %.2f | %.0f%% |"
                      % (name, t, n, e, l, e / l, e / n, l / n, ld, 100 * max(busy)), flush=True)
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), flush=True)
    if a.raw:
        with open(a.raw, "w") as f:
            json.dump(raw, f, indent=1)


if __name__ == "__main__":
    main()
