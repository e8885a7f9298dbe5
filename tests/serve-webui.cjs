// The chat page of `edgelm serve` in headless Chromium through playwright-core (run by
// tests/cli-serve.sh). Usage: node serve-webui.cjs PORT SCREENSHOT.png [STOP_PORT]
// Types a message containing HTML, waits for the streamed reply and checks that it equals
// the API's greedy answer for the same conversation and that the HTML is shown as text.
// With STOP_PORT (a server with a long context): starts a reply of thousands of tokens
// (ignore_eos added to the page's request), clicks Stop while the server still generates,
// and checks that the stream ends in the page and the server's slot is free soon after.
"use strict";
const { chromium } = require("playwright-core");

const [port, shot, stopPort] = process.argv.slice(2);
const base = `http://127.0.0.1:${port}`;
let failed = 0;
function check(name, ok, detail) {
  console.log((ok ? "ok   " : "FAIL ") + name + (ok || !detail ? "" : ": " + detail));
  if (!ok) failed++;
}

async function health(port) {
  return (await fetch(`http://127.0.0.1:${port}/health`)).json();
}

async function stopCheck(browser) {
  const page = await browser.newPage();
  page.setDefaultTimeout(10000);
  // the page's request with ignore_eos, so that the reply runs to max_tokens
  await page.route("**/v1/chat/completions", (route) => {
    const body = JSON.parse(route.request().postData());
    body.ignore_eos = true;
    route.continue({ postData: JSON.stringify(body) });
  });
  await page.goto(`http://127.0.0.1:${stopPort}/`, { timeout: 15000 });
  await page.click("summary");
  await page.fill("#maxtok", "8000");
  await page.fill("#input", "Tell me a long story");
  await page.click("#send");
  await page.waitForFunction(() => {
    const a = document.querySelector(".assistant");
    return a && a.textContent.length > 20;
  }, null, { timeout: 15000 });
  const busy = (await health(stopPort)).slots_processing;
  const stopEnabled = await page.isEnabled("#stop");
  await page.click("#stop");
  await page.waitForSelector(".assistant[data-done]", { timeout: 5000 });
  const done = await page.getAttribute(".assistant", "data-done");
  const shown = (await page.textContent(".assistant")).length;
  let idle = false;
  for (let i = 0; i < 40 && !idle; i++) { // at most 2 s
    idle = (await health(stopPort)).slots_processing === 0;
    if (!idle) await new Promise((r) => setTimeout(r, 50));
  }
  check("page_stop_button_ends_stream_and_frees_slot",
        busy === 1 && stopEnabled && done === "stopped" && idle && await page.isEnabled("#send"),
        JSON.stringify({ busy, stopEnabled, done, shown, idle }));
  await page.close();
}

async function main() {
  const message = "<b>Hello</b> & <img src=x onerror=alert(1)>";
  const r = await fetch(base + "/v1/chat/completions", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: message }], temperature: 0, max_tokens: 24 }),
  });
  const want = (await r.json()).choices[0].message.content;

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--disable-default-apps", "--no-first-run",
           "--disable-features=Translate,MediaRouter,OptimizationHints"],
  });
  try {
    const page = await browser.newPage();
    const dialogs = [];
    page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });
    await page.goto(base + "/", { timeout: 15000 });
    await page.waitForFunction(() => /\.gguf$/.test(document.getElementById("model").textContent), null, { timeout: 10000 });
    const header = await page.textContent("header");
    check("page_shows_model_and_context", /stories260K\.gguf/.test(header) && /context \d+ tokens/.test(header), header);
    page.setDefaultTimeout(10000);
    await page.click("summary"); // the settings
    await page.fill("#temp", "0");
    await page.fill("#maxtok", "24");
    await page.fill("#input", message);
    await page.click("#send");
    await page.waitForSelector(".assistant[data-done]", { timeout: 15000 });
    const got = await page.textContent(".assistant");
    const done = await page.getAttribute(".assistant", "data-done");
    check("page_reply_equals_api", done === "1" && got === want, JSON.stringify([got, want, done]));
    const userText = await page.textContent(".user");
    const elements = await page.$$eval(".user *", (e) => e.length);
    check("page_shows_html_as_text", userText === message && elements === 0 && dialogs.length === 0,
          JSON.stringify([userText, elements, dialogs]));
    await page.screenshot({ path: shot });
    if (stopPort) await stopCheck(browser);
  } finally {
    await browser.close();
  }
}

main().then(() => process.exit(failed ? 1 : 0), (e) => { console.log("FAIL exception: " + (e.stack || e)); process.exit(1); });
