#!/bin/sh
# edgelm convert (ELMo folder) and edgelm elmo on the bilm-tf fixture: 30 sentences fed as the
# reference test does (stateful, batches of 3: line 3i+k = sentence i of list k), outputs as
# .npy with the right shapes; the top layer matches lm_embeddings_k.hdf5 within 1e-5 (when h5py
# is there to read it); --mix equals the mix of the full output; stateless differs after the
# first batch only. Checks that need numpy are skipped without it.
. tests/tf-lib.sh
FX="$FIXTURES/elmo-bilm-tf"
PY=/usr/bin/python3
if [ ! -f "$FX/model/lm_weights.hdf5" ]; then
    skip_fixture elmo-cli "fixture $FX not found"
    finish
fi
have_numpy() { [ -x "$PY" ] && "$PY" -c "import numpy" 2>/dev/null; }
have_h5py() { [ -x "$PY" ] && "$PY" -c "import h5py, numpy" 2>/dev/null; }

check elmo-convert edgelm convert "$FX/model" -o "$TMPD/elmo.gguf"
check elmo-convert-explicit-paths edgelm convert --options "$FX/model/options.json" \
    --weights "$FX/model/lm_weights.hdf5" -o "$TMPD/elmo2.gguf" --outtype q8_0
# Progress with an ETA on a terminal only (script(1) gives the command one): the ELMo converter
# and elmo on a file of sentences.
if command -v script > /dev/null; then
    check elmo-progress-on-a-terminal-only sh -c "
        script -qec \"$EMU $EDGELM convert '$FX/model' -o '$TMPD/elmo3.gguf'\" /dev/null > '$TMPD/tty' &&
        grep -q 'converting ELMo .*ETA' '$TMPD/tty' &&
        script -qec \"$EMU $EDGELM elmo -m '$TMPD/elmo.gguf' -f '$FX/data/vocab_test.txt' -o '$TMPD/p.hdf5' --batch 4\" /dev/null > '$TMPD/tty2' &&
        grep -q 'elmo (sentences): .*ETA' '$TMPD/tty2' &&
        $EMU $EDGELM convert '$FX/model' -o '$TMPD/elmo3.gguf' 2> '$TMPD/notty' && ! grep -q ETA '$TMPD/notty'"
fi
# A decoder command on an ELMo file: what the file is and which commands run it, one line.
check elmo-file-wrong-family sh -c "! $EMU $EDGELM eval -m '$TMPD/elmo.gguf' --ids 1 -o '$TMPD/x.npy' 2> '$TMPD/wf' &&
    test \$(wc -l < '$TMPD/wf') -eq 1 &&
    grep -q '^edgelm eval: .*elmo.gguf is an ELMo biLM (architecture elmo): run it with edgelm elmo, kld or elmo-bench\$' '$TMPD/wf'"
check elmo-convert-bad-folder sh -c "! $EMU $EDGELM convert $FX/data -o $TMPD/x.gguf --options /nonexistent.json"

if ! have_numpy; then
    skip elmo-outputs "no python3 with numpy"
    finish
fi
# interleave the three lists: batch i = [list0[i], list1[i], list2[i]]
"$PY" - "$FX/model/lm_embeddings_sentences.json" "$TMPD/sent.txt" <<'EOF'
import json, sys
lists = json.load(open(sys.argv[1]))
with open(sys.argv[2], "w") as f:
    for i in range(10):
        for k in range(3):
            f.write(lists[k][i] + "\n")
EOF
check elmo-stateful edgelm elmo -m "$TMPD/elmo.gguf" -i "$TMPD/sent.txt" -o "$TMPD/st" --batch 3 --stateful
check elmo-stateless edgelm elmo -m "$TMPD/elmo.gguf" -i "$TMPD/sent.txt" -o "$TMPD/sl" --batch 3 -t 2
check elmo-mix edgelm elmo -m "$TMPD/elmo.gguf" -i "$TMPD/sent.txt" -o "$TMPD/mx" --batch 3 --stateful \
    --mix 0.5,-1,2 --gamma 1.5
check elmo-bad-mix sh -c "! $EMU $EDGELM elmo -m $TMPD/elmo.gguf -i $TMPD/sent.txt -o $TMPD/bad --mix 1,2"

check elmo-shapes-mix-stateless "$PY" - "$TMPD" <<'EOF'
import sys
import numpy as np
d = sys.argv[1]
lines = open(d + "/sent.txt").read().splitlines()
assert len(lines) == 30
worst_first, worst_later = 0.0, 0.0
for j, line in enumerate(lines):
    n = len(line.split())
    st = np.load("%s/st/sentence_%d.npy" % (d, j))
    sl = np.load("%s/sl/sentence_%d.npy" % (d, j))
    mx = np.load("%s/mx/sentence_%d.npy" % (d, j))
    assert st.dtype == np.float32 and st.shape == (3, n, 32), st.shape
    assert mx.shape == (n, 32), mx.shape
    # layer 0 is the token embedding repeated for both directions
    assert np.array_equal(st[0, :, :16], st[0, :, 16:])
    s = np.array([0.5, -1, 2]); w = np.exp(s) / np.exp(s).sum()
    want = 1.5 * np.tensordot(w, st.astype(np.float64), axes=1)
    assert np.abs(want - mx).max() < 1e-5, np.abs(want - mx).max()
    diff = np.abs(st - sl).max()
    if j < 3: worst_first = max(worst_first, diff)
    else: worst_later = max(worst_later, diff)
assert worst_first < 1e-5, worst_first
assert worst_later > 0.1, worst_later
print("stateless vs stateful: first batch %.3g, later %.3g" % (worst_first, worst_later))
EOF

if have_h5py; then
    check elmo-top-layer-vs-reference "$PY" - "$TMPD" "$FX/model" <<'EOF'
import sys
import h5py
import numpy as np
d, fx = sys.argv[1], sys.argv[2]
worst = 0.0
for k in range(3):
    with h5py.File("%s/lm_embeddings_%d.hdf5" % (fx, k), "r") as f:
        for i in range(10):
            ref = f[str(i)][...]
            want = np.concatenate([ref[0], ref[1]], axis=-1)
            got = np.load("%s/st/sentence_%d.npy" % (d, 3 * i + k))[2]
            worst = max(worst, float(np.abs(got - want).max()))
assert worst <= 1e-5, worst
print("top layer vs lm_embeddings: max |diff| %.3g" % worst)
EOF
else
    skip elmo-top-layer-vs-reference "no h5py (test-elmo checks the same in C)"
fi

# -o OUT.hdf5: AllenNLP's layout (a dataset per sentence index + sentence_to_index), read back
# with h5py and compared with the .npy folder of the same run; --top / --average; stdin input.
check elmo-hdf5-all edgelm elmo -m "$TMPD/elmo.gguf" -f "$TMPD/sent.txt" -o "$TMPD/all.hdf5" --batch 3 --stateful
check elmo-hdf5-top-stdin sh -c "$EMU $EDGELM elmo -m $TMPD/elmo.gguf -f - -o $TMPD/top.hdf5 --batch 3 --stateful --top < $TMPD/sent.txt"
check elmo-hdf5-average edgelm elmo -m "$TMPD/elmo.gguf" --file "$TMPD/sent.txt" -o "$TMPD/avg.h5" --batch 3 --stateful --average
if have_h5py; then
    check elmo-hdf5-read-back "$PY" - "$TMPD" <<'EOF'
import json
import sys
import h5py
import numpy as np
d = sys.argv[1]
lines = open(d + "/sent.txt").read().splitlines()
with h5py.File(d + "/all.hdf5", "r") as fa, h5py.File(d + "/top.hdf5", "r") as ft, h5py.File(d + "/avg.h5", "r") as fv:
    assert sorted(fa.keys()) == sorted([str(i) for i in range(len(lines))] + ["sentence_to_index"])
    s2i = json.loads(fa["sentence_to_index"][0])
    for i, line in enumerate(lines):
        assert s2i[line.strip()] == str(max(j for j, l in enumerate(lines) if l.strip() == line.strip()))
        want = np.load("%s/st/sentence_%d.npy" % (d, i))
        got = fa[str(i)][...]
        assert got.dtype == np.float32 and got.shape == want.shape and np.array_equal(got, want), i
        assert np.array_equal(ft[str(i)][...], want[2]), i
        assert np.abs(fv[str(i)][...] - want.astype(np.float64).mean(axis=0)).max() < 1e-5, i
print("%d sentences: hdf5 --all equals the npy folder, --top layer 2, --average the mean" % len(lines))
EOF
else
    skip elmo-hdf5-read-back "no h5py"
fi
check elmo-bench-csv sh -c "$EMU $EDGELM elmo-bench -m $TMPD/elmo.gguf -t 1 --batch 2 --tokens 3 -r 1 -o csv > $TMPD/eb.csv 2> /dev/null &&
    head -n 1 $TMPD/eb.csv | grep -q '^model,weights,threads,batch x tokens,' && test \$(wc -l < $TMPD/eb.csv) -eq 2"
check elmo-empty-input-message sh -c ": > $TMPD/empty.txt; ! $EMU $EDGELM elmo -m $TMPD/elmo.gguf -f $TMPD/empty.txt -o $TMPD/e.hdf5 2> $TMPD/err && grep -q '^edgelm elmo: .* has no lines' $TMPD/err && test ! -e $TMPD/e.hdf5"
finish
