#!/usr/bin/python3
"""Writes a random-weight ELMo checkpoint of the original size, in bilm-tf's layout, for the
ELMo benchmark (not committed: ~370 MB; regenerate on demand).

    /usr/bin/python3 scripts/make_elmo_bench.py OUTDIR      # needs numpy and h5py
    build/edgelm convert OUTDIR -o elmo-orig-f32.gguf
    build/edgelm convert OUTDIR -o elmo-orig-q8_0.gguf --outtype q8_0
    build/edgelm elmo-bench -m elmo-orig-f32.gguf -t 1,2 --batch 32 --tokens 20

Sizes (AllenNLP's "original" ELMo, elmo_2x4096_512_2048cnn_2xhighway): char embedding 16,
filters [[1,32],[2,32],[3,64],[4,128],[5,256],[6,512],[7,1024]] (2048 in all), 2 highway
layers, projection to 512, 2 LSTM layers of 4096 cells projected to 512, skip connections.
Weights are N(0, 1/fan_in) so that activations stay in a realistic range; the file layout
and dataset names are exactly those of bilm-tf's dump_weights (see
../shared/fixtures/elmo-bilm-tf/PROVENANCE.md).
"""
import json
import os
import sys

import h5py
import numpy as np

OPTIONS = {
    "lstm": {"use_skip_connections": True, "projection_dim": 512, "cell_clip": 3, "proj_clip": 3,
             "dim": 4096, "n_layers": 2},
    "char_cnn": {"activation": "relu",
                 "filters": [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]],
                 "n_highway": 2, "embedding": {"dim": 16}, "n_characters": 262,
                 "max_characters_per_token": 50},
}


def rnd(rng, shape, fan_in):
    return (rng.standard_normal(shape, dtype=np.float32) / np.sqrt(fan_in)).astype(np.float32)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "elmo-bench-model"
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "options.json"), "w") as f:
        json.dump(OPTIONS, f)
    rng = np.random.default_rng(2018)
    cnn, lstm = OPTIONS["char_cnn"], OPTIONS["lstm"]
    E = cnn["embedding"]["dim"]
    D = sum(n for _, n in cnn["filters"])
    P, C = lstm["projection_dim"], lstm["dim"]
    with h5py.File(os.path.join(out, "lm_weights.hdf5"), "w") as f:
        f["char_embed"] = rnd(rng, (261, E), 1)
        for i, (w, n) in enumerate(cnn["filters"]):
            f["CNN/W_cnn_%d" % i] = rnd(rng, (1, w, E, n), w * E)
            f["CNN/b_cnn_%d" % i] = np.zeros(n, np.float32)
        for k in range(cnn["n_highway"]):
            f["CNN_high_%d/W_carry" % k] = rnd(rng, (D, D), D)
            f["CNN_high_%d/W_transform" % k] = rnd(rng, (D, D), D)
            f["CNN_high_%d/b_carry" % k] = np.full(D, -2.0, np.float32)
            f["CNN_high_%d/b_transform" % k] = np.zeros(D, np.float32)
        f["CNN_proj/W_proj"] = rnd(rng, (D, P), D)
        f["CNN_proj/b_proj"] = np.zeros(P, np.float32)
        for d in range(2):
            for l in range(lstm["n_layers"]):
                base = "RNN_%d/RNN/MultiRNNCell/Cell%d/LSTMCell/" % (d, l)
                f[base + "W_0"] = rnd(rng, (P + P, 4 * C), 2 * P)
                f[base + "B"] = np.zeros(4 * C, np.float32)
                f[base + "W_P_0"] = rnd(rng, (C, P), C)
    print("wrote", out)


if __name__ == "__main__":
    main()
