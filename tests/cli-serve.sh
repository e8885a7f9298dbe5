# `edgelm serve` end to end on 127.0.0.1: every server started here gets a free port (--port 0),
# every wait is bounded and every server is stopped (SIGTERM, checked to exit 0) or killed on
# exit. Clients: curl, tests/serve-client.py (raw sockets: load, slow client, disconnects),
# the official `openai` npm package and playwright-core with Debian's chromium (installed into
# a temporary npm prefix; skipped without node/npm/chromium, failed so under EDGELM_REQUIRE_FIXTURES=1).
. tests/tf-lib.sh
M="$FIXTURES/stories260K/stories260K.gguf"
BERT_SRC="$FIXTURES/hf-reference/bert"
PY=tests/serve-client.py
: "${BUILD:=build}"
WAIT=${EMU:+1200}; WAIT=${WAIT:-200}       # tenths of a second for a server to come up
LOAD_CLIENTS=32 LOAD_REQS=20
[ -n "$EMU" ] && LOAD_CLIENTS=8 LOAD_REQS=5 # qemu: the same test, smaller
serve_pids=""
trap 'for p in $serve_pids; do kill -KILL "$p" 2>/dev/null; done; rm -rf "$TMPD"' EXIT
trap 'exit 1' INT TERM

# serve_start NAME ARGS...: sets PID and PORT; fails when /health does not answer 200 in time.
serve_start() {
    name=$1; shift
    : > "$TMPD/$name.log"
    $EMU "$EDGELM" serve --port 0 "$@" 2> "$TMPD/$name.log" &
    PID=$!
    serve_pids="$serve_pids $PID"
    i=0
    while [ $i -lt "$WAIT" ]; do
        PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMPD/$name.log")
        if [ -n "$PORT" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health")" = 200 ]; then
            return 0
        fi
        kill -0 "$PID" 2>/dev/null || return 1
        sleep 0.1; i=$((i + 1))
    done
    return 1
}
# serve_stop PID: SIGTERM, at most 10 s, then the exit status (0 = a clean stop); run it in
# this shell (not under check: a subshell cannot wait for it).
serve_stop() {
    kill -TERM "$1" 2>/dev/null
    i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    if kill -0 "$1" 2>/dev/null; then kill -KILL "$1"; return 1; fi
    wait "$1"
}
# st URL [curl args]: prints the status code, the body goes to $TMPD/body.
st() { u=$1; shift; curl -s -m 30 -o "$TMPD/body" -w '%{http_code}' "$@" "http://127.0.0.1:$PORT$u"; }
# jget FILE EXPR: a Python expression over the JSON document d.
jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
post() { st "$1" -H 'Content-Type: application/json' -d "$2"; }
is() { [ "$1" = "$2" ] || { echo "got '$1', want '$2'"; cat "$TMPD/body" 2>/dev/null; return 1; }; }
idle_slots() { # waits (at most 3 s) until no slot is busy
    i=0
    while [ $i -lt 30 ]; do
        [ "$(st /health)" = 200 ] && [ "$(jget "$TMPD/body" "d['slots_processing']")" = 0 ] && return 0
        sleep 0.1; i=$((i + 1))
    done
    cat "$TMPD/body"; return 1
}
need() { # need TOOL: true when present; otherwise skip (or fail under EDGELM_REQUIRE_FIXTURES=1)
    command -v "$1" > /dev/null 2>&1 && return 0
    skip_fixture "serve_$1" "$1 is not installed"
    return 1
}

check serve_help sh -c "$EMU '$EDGELM' serve --help | grep -q -- '--parallel'"
bad_values() {
    for a in "--port 70000" "--port x" "--parallel 0" "--timeout -1" "--chat-template nope" \
             "--max-body 0" "--threads 0" "--bogus" "--api-key-file /nonexistent" "-ctk f8" "-ctv" \
             "--cache-type-v q4"; do
        # shellcheck disable=SC2086
        $EMU "$EDGELM" serve -m "$M" $a > /dev/null 2>&1
        [ $? -eq 2 ] || { echo "accepted: $a"; return 1; }
    done
    ! $EMU "$EDGELM" serve -m /nonexistent.gguf --port 0 2> /dev/null
}
check serve_rejects_bad_values bad_values

if [ ! -f "$M" ] || ! need python3 || ! need curl; then
    [ -f "$M" ] || skip_fixture serve_end_to_end "fixture $M is absent"
    finish
fi

# ---- server A: stories260K, two slots ----
if ! serve_start a -m "$M" --parallel 2 --queue 4 --chat-template chatml --timeout 2 --max-body 4096; then
    check serve_starts false; cat "$TMPD/a.log"; finish
fi
A_PID=$PID A_PORT=$PORT
check serve_health sh -c '[ "$(curl -s http://127.0.0.1:'"$PORT"'/health)" != "" ] && curl -s http://127.0.0.1:'"$PORT"'/health | grep -q "\"status\":\"ok\""'
check serve_models sh -c "curl -s http://127.0.0.1:$PORT/v1/models | grep -q '\"id\":\"stories260K.gguf\".*\"n_ctx\":2048'"

edgelm generate -m "$M" -p "Once upon a time" -n 32 --temp 0 > "$TMPD/gen.txt"
greedy_equals_generate() {
    is "$(post /v1/completions '{"prompt":"Once upon a time","max_tokens":32,"temperature":0}')" 200 &&
    jget "$TMPD/body" "d['choices'][0]['text']" > "$TMPD/api.txt" &&
    python3 -c 'import sys; a=open(sys.argv[1]).read(); b=open(sys.argv[2]).read(); sys.exit(0 if a[:-1]==b else 1)' "$TMPD/api.txt" "$TMPD/gen.txt" &&
    is "$(jget "$TMPD/body" "d['usage']['completion_tokens'], d['choices'][0]['finish_reason']")" "(32, 'length')"
}
check serve_completion_equals_generate greedy_equals_generate
# Two slots generating at once decode their tokens in one batch (elm_decode_batch): four
# greedy requests at a time, each equal to `edgelm generate`, until /health counts a batch
# that held both slots' tokens (at most 5 rounds).
for p in "Once upon a time" "The dog" "Lily and Ben went to the park to"; do
    edgelm generate -m "$M" -p "$p" -n 96 --temp 0 > "$TMPD/gen-$(echo "$p" | tr -dc a-z).txt"
done
batched_greedy() {
    round=0
    while [ $round -lt 5 ]; do
        round=$((round + 1))
        k=0
        for p in "Once upon a time" "The dog" "Lily and Ben went to the park to" "The dog"; do
            k=$((k + 1))
            curl -s -m 60 -o "$TMPD/bat$k.json" "http://127.0.0.1:$PORT/v1/completions" -H 'Content-Type: application/json' \
                -d "{\"prompt\":\"$p\",\"max_tokens\":96,\"temperature\":0}" &
            eval "bp$k=\$!"
        done
        wait "$bp1" "$bp2" "$bp3" "$bp4"
        k=0
        for p in "Once upon a time" "The dog" "Lily and Ben went to the park to" "The dog"; do
            k=$((k + 1))
            python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["choices"][0]["text"]; b=open(sys.argv[2]).read()
sys.exit(0 if a==b else 1)' "$TMPD/bat$k.json" "$TMPD/gen-$(echo "$p" | tr -dc a-z).txt" || { echo "round $round, '$p' differs"; cat "$TMPD/bat$k.json"; return 1; }
        done
        is "$(st /health)" 200 || return 1
        b=$(jget "$TMPD/body" "d['decode_batches']"); r=$(jget "$TMPD/body" "d['decode_batch_tokens']")
        echo "round $round: $b generation steps decoded $r tokens"
        [ "$r" -gt "$b" ] && return 0
    done
    return 1
}
check serve_batched_greedy_equals_generate batched_greedy
ids_prompt() {
    is "$(post /tokenize '{"content":"Once upon a time","add_special":true}')" 200 &&
    ids=$(jget "$TMPD/body" "d['tokens']") &&
    is "$(post /v1/completions "{\"prompt\":$ids,\"max_tokens\":32,\"temperature\":0}")" 200 &&
    is "$(jget "$TMPD/body" "d['choices'][0]['text']")" "$(cat "$TMPD/gen.txt")" &&
    is "$(post /detokenize "{\"tokens\":$ids}")" 200 &&
    is "$(jget "$TMPD/body" "d['content']")" "Once upon a time"
}
check serve_token_ids_prompt_and_detokenize ids_prompt
stop_string() {
    is "$(post /v1/completions '{"prompt":"Once upon a time","max_tokens":32,"temperature":0,"stop":["Lily","zzz"]}')" 200 &&
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); g=open(sys.argv[2]).read(); c=d["choices"][0]
sys.exit(0 if c["text"]==g[:g.index("Lily")] and c["finish_reason"]=="stop" else 1)' "$TMPD/body" "$TMPD/gen.txt"
}
check serve_stop_strings stop_string
stop_string_streamed() { # the text held back while it may begin a stop string never leaks out
    curl -s -N -m 30 "http://127.0.0.1:$PORT/v1/completions" -d '{"prompt":"Once upon a time","max_tokens":32,"temperature":0,"stream":true,"stop":["Lily"," gi"]}' > "$TMPD/sse2" &&
    python3 -c 'import json,sys; g=open(sys.argv[2]).read()
ev=[json.loads(l[6:]) for l in open(sys.argv[1]) if l.startswith("data: {")]
text="".join(e["choices"][0]["text"] for e in ev)
print(repr(text))
sys.exit(0 if text==g[:g.index(" gi")] and ev[-1]["choices"][0]["finish_reason"]=="stop" else 1)' "$TMPD/sse2" "$TMPD/gen.txt"
}
check serve_stop_strings_streamed stop_string_streamed
logprobs() {
    is "$(post /v1/completions '{"prompt":"Once upon a time","max_tokens":4,"temperature":0,"logprobs":3,"seed":1}')" 200 &&
    python3 -c 'import json,sys; lp=json.load(open(sys.argv[1]))["choices"][0]["logprobs"]
ok=len(lp["tokens"])==4 and all(len(t)==3 for t in lp["top_logprobs"])
ok=ok and all(abs(max(t.values())-x)<1e-5 and x<=0 for t,x in zip(lp["top_logprobs"],lp["token_logprobs"]))
sys.exit(0 if ok else 1)' "$TMPD/body"
}
check serve_logprobs_top_k logprobs
echo_prompt() {
    is "$(post /v1/completions '{"prompt":"Once upon a time","max_tokens":8,"temperature":0,"echo":true}')" 200 &&
    jget "$TMPD/body" "d['choices'][0]['text']" | grep -q '^Once upon a time, there was'
}
check serve_echo echo_prompt
sse_stream() {
    curl -s -N -m 30 "http://127.0.0.1:$PORT/v1/chat/completions" -d '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":16,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}' > "$TMPD/sse" &&
    tail -n 2 "$TMPD/sse" | head -n 1 | grep -qx 'data: \[DONE\]' &&
    is "$(post /v1/chat/completions '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":16,"temperature":0}')" 200 &&
    python3 -c 'import json,sys
ev=[json.loads(l[6:]) for l in open(sys.argv[1]) if l.startswith("data: {")]
text="".join(e["choices"][0]["delta"].get("content","") for e in ev if e["choices"])
d=json.load(open(sys.argv[2]))
ok=text==d["choices"][0]["message"]["content"] and ev[-1]["usage"]==d["usage"] and ev[-1]["choices"]==[]
ok=ok and ev[0]["choices"][0]["delta"]["role"]=="assistant" and ev[-2]["choices"][0]["finish_reason"]==d["choices"][0]["finish_reason"]
sys.exit(0 if ok else 1)' "$TMPD/sse" "$TMPD/body"
}
check serve_chat_stream_sse sse_stream
prefix_reuse() {
    t1='{"role":"system","content":"You are a storyteller."},{"role":"user","content":"Tell me about a cat."}'
    is "$(post /v1/chat/completions "{\"messages\":[$t1],\"max_tokens\":12,\"temperature\":0}")" 200 &&
    reply=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["choices"][0]["message"]["content"]))' "$TMPD/body") &&
    n1=$(jget "$TMPD/body" "d['usage']['prompt_tokens']") &&
    is "$(post /v1/chat/completions "{\"messages\":[$t1,{\"role\":\"assistant\",\"content\":$reply},{\"role\":\"user\",\"content\":\"And a dog?\"}],\"max_tokens\":12,\"temperature\":0}")" 200 &&
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); t=d["timings"]; n1=int(sys.argv[2]); u=d["usage"]["prompt_tokens"]
print("turn 1:", n1, "prompt tokens; turn 2:", u, "prompt tokens,", t["cache_n"], "reused,", t["prompt_n"], "evaluated")
sys.exit(0 if t["cache_n"] >= n1 and t["prompt_n"] == u - t["cache_n"] and t["prompt_n"] < u - n1 + 12 else 1)' "$TMPD/body" "$n1"
}
check serve_chat_prefix_reuse prefix_reuse

error_statuses() {
    is "$(post /v1/completions '{bad')" 400 && grep -q '"error":{"message":' "$TMPD/body" &&
    is "$(post /v1/completions '{"prompt":"x","max_tokens":"5"}')" 400 &&
    is "$(post /v1/completions '{"prompt":"x","temperature":NaN}')" 400 &&
    is "$(post /v1/chat/completions '{"messages":[{"role":"user","content":"x"}],"temperature":1e999}')" 400 &&
    is "$(st /v1/completions -H 'Content-Type: application/json' --data-binary "$(printf '{"prompt":"\377"}')")" 400 &&
    is "$(post /v1/completions '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]')" 400 &&
    is "$(post /v1/completions '{"prompt":[99999]}')" 400 &&
    is "$(st /nope)" 404 && grep -q '"code":404' "$TMPD/body" &&
    is "$(st /v1/completions)" 405 &&
    is "$(st /health -X DELETE)" 405 &&
    is "$(st /v1/completions -H 'Transfer-Encoding: chunked' -d '{"prompt":"x"}')" 411 &&
    head -c 5000 /dev/zero | tr '\0' ' ' > "$TMPD/big" &&
    is "$(st /v1/completions --data-binary @"$TMPD/big")" 413 &&
    is "$(post /v1/embeddings '{"input":"x"}')" 501 &&
    is "$(python3 $PY raw "$PORT" "$(printf 'POST /v1/completions HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}' | od -An -v -tx1 | tr -d ' \n')")" 400 &&
    is "$(python3 $PY raw "$PORT" "$(printf 'GET / HTTP/1.1\r\nHost: x\r\n' | od -An -v -tx1 | tr -d ' \n')00")" 400 &&
    is "$(python3 $PY raw "$PORT" "$(printf 'POST /v1/completions HTTP/1.1\r\n\r\n' | od -An -v -tx1 | tr -d ' \n')")" 411 &&
    ! grep -q ' 500 ' "$TMPD/a.log"
}
check serve_error_statuses error_statuses
head_limits() {
    big=$(head -c 10000 /dev/zero | tr '\0' a) huge=$(head -c 20000 /dev/zero | tr '\0' a)
    is "$(st /health -H "X-Big: $big")" 200 &&
    is "$(st /health -H "X-Big: $huge")" 431 &&
    set -- && for i in $(seq 60); do set -- "$@" -H "X-$i: 1"; done &&
    is "$(st /health "$@")" 431 &&
    body="{\"prompt\":\"Once upon a time\",\"max_tokens\":1,\"stop\":\"$(head -c 200 /dev/zero | tr '\0' a)\"}" &&
    t=$(curl -s -m 30 -o "$TMPD/body" -w '%{http_code} %{time_total}' -H 'Expect: 100-continue' "http://127.0.0.1:$PORT/v1/completions" -d "$body") &&
    echo "with Expect: 100-continue (curl waits 1 s for the 100 before sending the body): $t" &&
    is "${t% *}" 200 && python3 -c "import sys; sys.exit(0 if float('${t#* }') < 0.9 else 1)"
}
check serve_head_limits_and_expect_continue head_limits
check serve_page_is_served sh -c "curl -s http://127.0.0.1:$PORT/ | grep -q '<title>edgelm chat</title>'"
drop_now() {
    python3 $PY drop "$PORT" now > /dev/null && idle_slots &&
    sleep 0.2 && grep 'POST /v1/completions' "$TMPD/a.log" | tail -n 1 | grep -q ' cancelled$'
}
check serve_disconnect_cancels_at_once drop_now
drop_first() {
    python3 $PY drop "$PORT" first > /dev/null && idle_slots && sleep 0.2 &&
    grep 'POST /v1/completions' "$TMPD/a.log" | tail -n 1 | grep ' cancelled$' | grep -qv 'generated 1900 '
}
check serve_disconnect_mid_stream_frees_slot drop_first
drop_prompt() { # leaving while a long prompt is evaluated: cancelled between two prompt pieces
    python3 $PY drop "$PORT" prompt > /dev/null && sleep 0.3 && idle_slots && sleep 0.2 &&
    grep 'POST /v1/completions' "$TMPD/a.log" | tail -n 1 | grep -q 'generated 0 cancelled$'
}
[ -z "$EMU" ] && check serve_disconnect_during_prompt_frees_slot drop_prompt
slow_client() {
    python3 $PY slow "$PORT" 10 > "$TMPD/slow" &
    sp=$!
    sleep 1
    h=$(st /health)
    wait $sp
    echo "slow client: $(cat "$TMPD/slow"); /health meanwhile: $h"
    is "$h" 200 && read -r code secs < "$TMPD/slow" && is "$code" 408 &&
    python3 -c "import sys; sys.exit(0 if float('$secs') < 6 else 1)" && idle_slots
}
check serve_slow_client_times_out slow_client
rss() { awk '/^VmRSS/ {print $2}' "/proc/$A_PID/status"; }
load_test() {
    python3 $PY load "$PORT" "$LOAD_CLIENTS" "$LOAD_REQS" > /dev/null # warm-up: connection threads, their allocator arenas
    before=$(rss)
    python3 $PY load "$PORT" "$LOAD_CLIENTS" "$LOAD_REQS" > "$TMPD/load" &
    lp=$!
    ok_health=1
    while kill -0 $lp 2>/dev/null; do
        h=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health")
        [ "$h" = 200 ] || ok_health=0
        sleep 0.2
    done
    wait $lp
    after=$(rss)
    echo "load $LOAD_CLIENTS x $LOAD_REQS: $(cat "$TMPD/load"); RSS $before -> $after kB; /health always 200: $ok_health"
    python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); n=int(sys.argv[2])
sys.exit(0 if set(c) <= {"200","503"} and sum(c.values()) == n and c.get("200",0) > 0 else 1)' "$TMPD/load" $((LOAD_CLIENTS * LOAD_REQS)) &&
    is "$ok_health" 1 && idle_slots || return 1
    if [ -n "$EMU" ]; then
        echo "RSS bound not checked: under $EMU the process measured is the emulator (its translation cache grows)"
    elif grep -q __asan_init "$EDGELM" 2>/dev/null; then
        echo "RSS bound not checked: AddressSanitizer's quarantine keeps freed memory (LeakSanitizer checks at exit)"
    else
        [ "$after" -le $((before + before / 10)) ]
    fi
}
check serve_load_test load_test
cp "$TMPD/a.log" "$BUILD/serve-a.log" 2>/dev/null

# ---- the openai client and the chat page in a real browser ----
NODE_OK=0
if need node && need npm && need chromium; then
    NODE_PREFIX=${EDGELM_NODE_PREFIX:-$TMPD/npm}
    if [ -d "$NODE_PREFIX/node_modules/openai" ] && [ -d "$NODE_PREFIX/node_modules/playwright-core" ] ||
       timeout 300 npm install --silent --no-audit --no-fund --prefix "$NODE_PREFIX" openai playwright-core > "$TMPD/npm.log" 2>&1; then
        NODE_OK=1
    else
        cat "$TMPD/npm.log"
        skip_fixture serve_node_clients "npm install openai playwright-core failed (offline?)"
    fi
fi
if [ "$NODE_OK" = 1 ]; then
    # server G: a long context, for a reply that runs long enough to be stopped from the page
    A_PORT_SAVED=$PORT
    if serve_start g -m "$M" -c 8192 --chat-template chatml; then
        G_PID=$PID
        check serve_webui_in_chromium env NODE_PATH="$NODE_PREFIX/node_modules" node tests/serve-webui.cjs "$A_PORT_SAVED" \
            "$BUILD/serve-webui.png" "$PORT"
        check serve_webui_stop_logged_cancelled grep -q 'cancelled' "$TMPD/g.log"
        serve_stop "$G_PID"; check serve_g_stops_cleanly is "$?" 0
    else
        check serve_g_starts sh -c "cat '$TMPD/g.log'; false"
    fi
    PORT=$A_PORT_SAVED
fi

A_LOG="$TMPD/a.log"
check serve_sigterm_stops_cleanly sh -c "kill -TERM $A_PID; i=0; while kill -0 $A_PID 2>/dev/null && [ \$i -lt 100 ]; do sleep 0.1; i=\$((i+1)); done; ! kill -0 $A_PID 2>/dev/null && grep -q 'stopping' '$A_LOG'"
wait "$A_PID"; rc=$?
check serve_sigterm_exit_status_0 is "$rc" 0

# ---- server E: the model through a FIFO (read into memory), f32 KV cache ----
# While the server waits for the FIFO's writer it is loading: /health says 503; once the
# bytes came, 200, and greedy output equals `edgelm generate` with the same cache types.
fifo_load() {
    mkfifo "$TMPD/model.fifo" || return 1
    $EMU "$EDGELM" serve --port 0 -m "$TMPD/model.fifo" -ctk f32 --cache-type-v f32 2> "$TMPD/e.log" &
    E_PID=$!
    serve_pids="$serve_pids $E_PID"
    i=0
    while [ $i -lt "$WAIT" ]; do
        PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMPD/e.log")
        [ -n "$PORT" ] && break
        sleep 0.1; i=$((i + 1))
    done
    [ -n "$PORT" ] || { cat "$TMPD/e.log"; return 1; }
    is "$(st /health)" 503 && grep -q 'the model is loading' "$TMPD/body" &&
    is "$(st /v1/models)" 503 || return 1
    cat "$M" > "$TMPD/model.fifo"
    i=0
    until [ "$(st /health)" = 200 ]; do
        i=$((i + 1)); [ $i -lt "$WAIT" ] || { cat "$TMPD/e.log"; return 1; }; sleep 0.1
    done
    edgelm generate -m "$M" -p "Once upon a time" -n 24 --temp 0 -ctk f32 -ctv f32 > "$TMPD/gen-f32.txt" &&
    is "$(post /v1/completions '{"prompt":"Once upon a time","max_tokens":24,"temperature":0}')" 200 &&
    python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["choices"][0]["text"]; sys.exit(0 if a==open(sys.argv[2]).read() else 1)' \
        "$TMPD/body" "$TMPD/gen-f32.txt" &&
    serve_stop "$E_PID"
}
# (check runs this in a subshell: the EXIT trap does not see E_PID, so a failure kills it here)
fifo_load_or_kill() { E_PID=; fifo_load && return 0; [ -n "$E_PID" ] && kill -KILL "$E_PID" 2>/dev/null; return 1; }
check serve_health_503_while_loading_fifo fifo_load_or_kill
# A server still waiting for its model stops on SIGTERM too.
fifo_stop() {
    mkfifo "$TMPD/never.fifo" || return 1
    $EMU "$EDGELM" serve --port 0 -m "$TMPD/never.fifo" 2> "$TMPD/f.log" &
    F_PID=$!
    serve_pids="$serve_pids $F_PID"
    i=0
    until grep -q listening "$TMPD/f.log"; do i=$((i + 1)); [ $i -lt "$WAIT" ] || return 1; sleep 0.1; done
    kill -TERM "$F_PID"
    i=0
    while kill -0 "$F_PID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    ! kill -0 "$F_PID" 2>/dev/null || { kill -KILL "$F_PID"; return 1; }
}
check serve_sigterm_while_loading fifo_stop
check serve_q8_0_cache_refused sh -c "! $EMU '$EDGELM' serve --port 0 -m '$M' -ctv q8_0 2> '$TMPD/q8.log' && grep -q 'q8_0 for V is not supported' '$TMPD/q8.log'"

# ---- server B: API key, no page, decoder embeddings ----
printf 'sekrit-key\n' > "$TMPD/key"
if serve_start b -m "$M" --api-key-file "$TMPD/key" --no-webui --embedding --queue 0 --max-conns 4; then
    api_key() {
        is "$(st /v1/models)" 401 && grep -q authentication_error "$TMPD/body" &&
        is "$(st /v1/models -H 'Authorization: Bearer sekrit-kez')" 401 &&
        is "$(st /v1/models -H 'Authorization: Bearer sekrit-key')" 200 &&
        is "$(st /health)" 200 && is "$(st /)" 404
    }
    check serve_api_key api_key
    dec_embed() {
        is "$(st /v1/embeddings -H 'Authorization: Bearer sekrit-key' -d '{"input":["one","two"]}')" 200 &&
        python3 -c 'import json,sys,math; d=json.load(open(sys.argv[1]))["data"]
sys.exit(0 if len(d)==2 and all(len(e["embedding"])==64 and abs(math.sqrt(sum(x*x for x in e["embedding"]))-1)<1e-5 for e in d) else 1)' "$TMPD/body"
    }
    check serve_decoder_embeddings dec_embed
    queue_full() { # one slot, no queue: a stream holds the slot (the client asks again at its first event)
        python3 $PY busy "$PORT" sekrit-key > "$TMPD/busy.txt"; cat "$TMPD/busy.txt"
        is "$(head -c 3 "$TMPD/busy.txt")" 503 && grep -q 'every slot is busy' "$TMPD/busy.txt" &&
            grep -q '^stream: done 1900 events' "$TMPD/busy.txt" && idle_slots
    }
    check serve_queue_full_is_503 queue_full
    max_conns() { # 4 open connections at most: the 5th is told 503; once they close, all is well
        is "$(python3 $PY conns "$PORT" 4)" 503 && is "$(python3 $PY conns "$PORT" 3)" 200 && sleep 0.3 &&
        is "$(st /health)" 200
    }
    check serve_max_conns max_conns
    serve_stop "$PID"; check serve_b_stops_cleanly is "$?" 0
else
    check serve_b_starts sh -c "cat '$TMPD/b.log'; false"
fi

# ---- server C: BERT embeddings equal `edgelm embed` ----
if [ -f "$BERT_SRC/config.json" ] && edgelm convert "$BERT_SRC" -o "$TMPD/bert.gguf" > /dev/null 2>&1; then
    edgelm embed -m "$TMPD/bert.gguf" -p one -p two > "$TMPD/embed.txt"
    if serve_start c -m "$TMPD/bert.gguf"; then
        C_PID=$PID
        bert_embed() {
            is "$(post /v1/embeddings '{"input":["one","two"]}')" 200 && cp "$TMPD/body" "$TMPD/f.json" &&
            is "$(post /v1/embeddings '{"input":["one","two"],"encoding_format":"base64"}')" 200 &&
            python3 -c 'import json,sys,base64,struct
want=[[float(x) for x in l.split()] for l in open(sys.argv[1])]
f=[e["embedding"] for e in json.load(open(sys.argv[2]))["data"]]
b=[list(struct.unpack("<%df" % len(w), base64.b64decode(e["embedding"]))) for e,w in zip(json.load(open(sys.argv[3]))["data"], want)]
diff=max(abs(x-y) for v,w in zip(f,want) for x,y in zip(v,w)); diffb=max(abs(x-y) for v,w in zip(b,f) for x,y in zip(v,w))
print("max |api - edgelm embed| =", diff, "; base64 vs float:", diffb)
sys.exit(0 if len(f)==2 and len(f[0])==len(want[0]) and diff < 1e-5 and diffb < 1e-6 else 1)' "$TMPD/embed.txt" "$TMPD/f.json" "$TMPD/body" &&
            is "$(post /v1/chat/completions '{"messages":[{"role":"user","content":"x"}]}')" 501
        }
        check serve_bert_embeddings_equal_embed bert_embed
        if [ "$NODE_OK" = 1 ]; then
            C_PORT=$PORT
            edgelm generate -m "$M" -p "Once upon a time" -n 32 --temp 0 > "$TMPD/gen32.txt"
            if serve_start d -m "$M" --chat-template chatml; then
                check serve_openai_npm_client env NODE_PATH="$NODE_PREFIX/node_modules" node tests/serve-openai.cjs "$PORT" "$TMPD/gen32.txt" "$C_PORT" "$TMPD/embed.txt"
                serve_stop "$PID"; check serve_d_stops_cleanly is "$?" 0
            fi
        fi
        serve_stop "$C_PID"; check serve_c_stops_cleanly is "$?" 0
    else
        check serve_c_starts sh -c "cat '$TMPD/c.log'; false"
    fi
else
    skip_fixture serve_bert "fixture $BERT_SRC is absent or did not convert"
fi
finish
