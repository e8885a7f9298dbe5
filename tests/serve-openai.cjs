// The official `openai` npm client against `edgelm serve` (run by tests/cli-serve.sh with
// NODE_PATH pointing at a temporary npm prefix). Usage:
//   node serve-openai.cjs DECODER_PORT EXPECTED_COMPLETION_FILE [BERT_PORT EXPECTED_EMBED_FILE]
// Prints one line per check; exits 1 when any fails.
"use strict";
const fs = require("fs");
const mod = require("openai");
const OpenAI = mod.OpenAI || mod.default || mod;

const [port, expectFile, bertPort, embedFile] = process.argv.slice(2);
let failed = 0;
function check(name, ok, detail) {
  console.log((ok ? "ok   " : "FAIL ") + name + (ok || !detail ? "" : ": " + detail));
  if (!ok) failed++;
}

async function main() {
  const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: "none", timeout: 30000, maxRetries: 0 });
  const models = await client.models.list();
  check("models_list", models.data.length === 1 && models.data[0].id.endsWith(".gguf"), JSON.stringify(models.data));

  const messages = [{ role: "system", content: "You tell stories." }, { role: "user", content: "Tell me a story." }];
  const chat = await client.chat.completions.create({ model: "m", messages, temperature: 0, max_tokens: 32 });
  const text = chat.choices[0].message.content;
  check("chat_reply", typeof text === "string" && text.length > 0 && chat.usage.completion_tokens > 0 &&
        ["stop", "length"].includes(chat.choices[0].finish_reason), JSON.stringify(chat));

  const stream = await client.chat.completions.create({ model: "m", messages, temperature: 0, max_tokens: 32,
                                                        stream: true, stream_options: { include_usage: true } });
  let streamed = "", usage = null, finish = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    const c = chunk.choices[0];
    if (!c) continue;
    if (c.delta && c.delta.content) streamed += c.delta.content;
    if (c.finish_reason) finish = c.finish_reason;
  }
  check("chat_stream_equals_reply", streamed === text, JSON.stringify([streamed, text]));
  check("chat_stream_usage", usage && usage.completion_tokens === chat.usage.completion_tokens &&
        finish === chat.choices[0].finish_reason, JSON.stringify([usage, finish]));

  const expected = fs.readFileSync(expectFile, "utf8");
  const cmpl = await client.completions.create({ model: "m", prompt: "Once upon a time", temperature: 0, max_tokens: 32 });
  check("completion_equals_generate", cmpl.choices[0].text === expected, JSON.stringify([cmpl.choices[0].text, expected]));

  try {
    await client.chat.completions.create({ model: "m", messages: [] });
    check("bad_request_is_400", false, "no error");
  } catch (e) {
    check("bad_request_is_400", e.status === 400 && /messages/.test(e.message), String(e));
  }

  if (bertPort) {
    const bert = new OpenAI({ baseURL: `http://127.0.0.1:${bertPort}/v1`, apiKey: "none", timeout: 30000, maxRetries: 0 });
    const emb = await bert.embeddings.create({ model: "b", input: ["one", "two"] }); // base64 on the wire
    const want = fs.readFileSync(embedFile, "utf8").trim().split("\n").map((l) => l.trim().split(/\s+/).map(Number));
    let maxd = 0, dims = true;
    emb.data.forEach((d, i) => {
      dims = dims && d.embedding.length === want[i].length;
      d.embedding.forEach((v, k) => { maxd = Math.max(maxd, Math.abs(v - want[i][k])); });
    });
    check("embeddings_equal_edgelm_embed", emb.data.length === 2 && dims && maxd < 1e-5, "max diff " + maxd);
  }
}

main().then(() => process.exit(failed ? 1 : 0), (e) => { console.log("FAIL exception: " + (e.stack || e)); process.exit(1); });
