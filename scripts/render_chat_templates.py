#!/usr/bin/env python3
"""Renders chat templates with Python's jinja2 the way Hugging Face's apply_chat_template does,
as references for edgelm's own Jinja interpreter (tests/test-jinja.c).

    python3 scripts/render_chat_templates.py TEMPLATE_DIR [OUT_DIR]

For every TEMPLATE_DIR/NAME.jinja and every conversation variant below, writes
OUT_DIR/NAME.VARIANT.txt (the rendered text, byte for byte) or, when the template refuses
(raise_exception, undefined values, type errors), OUT_DIR/NAME.VARIANT.err (the message).
OUT_DIR defaults to TEMPLATE_DIR. tests/test-jinja.c holds the same conversations, tokens and
clock; change both together.

The environment is Hugging Face's: ImmutableSandboxedEnvironment(trim_blocks=True,
lstrip_blocks=True, extensions=[loopcontrols, the {% generation %} tag]), tojson = json.dumps(ensure_ascii=False, ...),
globals raise_exception and strftime_now; render(messages=..., tools=None, documents=None,
add_generation_prompt=..., bos_token=..., eos_token=..., [enable_thinking=...]).
"""
import json
import os
import sys
from datetime import datetime, timezone

from jinja2 import nodes
from jinja2.exceptions import TemplateError
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

# The clock strftime_now reads: 2025-07-26 12:00:00 UTC.
NOW = 1753531200

SYSTEM = "You are a concise assistant.  \n"
CHAT = [
    {"role": "user", "content": "Hello! What's 2+2?"},
    {"role": "assistant", "content": "2+2 is 4."},
    {"role": "user", "content": "  And times 3?\n"},
    {"role": "assistant", "content": "<think>\nMultiply 4 by 3.\n</think>\n\n4×3 = 12."},
    {"role": "user", "content": "Thanks — \"bye\" for now."},
]

# (variant, with system message, add_generation_prompt, enable_thinking or None)
VARIANTS = [
    ("chat", True, True, None),
    ("nothink", True, True, False),
    ("nosys", False, True, None),
    ("history", True, False, None),
]

# bos_token / eos_token by the template file's name prefix (first match), else the default.
TOKENS = [
    ("llama3", "<|begin_of_text|>", "<|eot_id|>"),
    ("meta-llama", "<|begin_of_text|>", "<|eot_id|>"),
    ("gemma", "<bos>", "<eos>"),
    ("google-gemma", "<bos>", "<eos>"),
    ("qwen", "<|endoftext|>", "<|im_end|>"),
    ("Qwen", "<|endoftext|>", "<|im_end|>"),
    ("granite", "<|end_of_text|>", "<|end_of_text|>"),
    ("ibm-granite", "<|end_of_text|>", "<|end_of_text|>"),
    ("olmo", "<|endoftext|>", "<|endoftext|>"),
    ("lfm", "<|startoftext|>", "<|im_end|>"),
    ("LFM", "<|startoftext|>", "<|im_end|>"),
    ("phi", "<s>", "<|endoftext|>"),
    ("microsoft-Phi", "<s>", "<|endoftext|>"),
]
DEFAULT_TOKENS = ("<s>", "</s>")


def tokens_for(name):
    for prefix, bos, eos in TOKENS:
        if name.startswith(prefix):
            return bos, eos
    return DEFAULT_TOKENS


class GenerationTag(Extension):
    """Hugging Face's {% generation %} ... {% endgeneration %}: renders its body as is."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

    def _body(self, caller):
        return caller()


def make_env():
    def raise_exception(message):
        raise TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.fromtimestamp(NOW, timezone.utc).strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                       extensions=[loopcontrols, GenerationTag])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(env, source, name, with_system, add_prompt, thinking):
    messages = ([{"role": "system", "content": SYSTEM}] if with_system else []) + \
               (CHAT if with_system or add_prompt is False else CHAT[:1])
    bos, eos = tokens_for(name)
    kwargs = {"messages": messages, "tools": None, "documents": None,
              "add_generation_prompt": add_prompt, "bos_token": bos, "eos_token": eos}
    if thinking is not None:
        kwargs["enable_thinking"] = thinking
    return env.from_string(source).render(**kwargs)


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    tdir = sys.argv[1]
    odir = sys.argv[2] if len(sys.argv) == 3 else tdir
    os.makedirs(odir, exist_ok=True)
    env = make_env()
    for fname in sorted(os.listdir(tdir)):
        if not fname.endswith(".jinja"):
            continue
        name = fname[:-len(".jinja")]
        with open(os.path.join(tdir, fname), encoding="utf-8") as f:
            source = f.read()
        for variant, with_system, add_prompt, thinking in VARIANTS:
            base = os.path.join(odir, f"{name}.{variant}")
            for stale in (base + ".txt", base + ".err"):
                if os.path.exists(stale):
                    os.remove(stale)
            try:
                text = render(env, source, name, with_system, add_prompt, thinking)
                with open(base + ".txt", "w", encoding="utf-8", newline="") as f:
                    f.write(text)
            except Exception as ex:  # the template refused: record why
                with open(base + ".err", "w", encoding="utf-8") as f:
                    f.write(f"{type(ex).__name__}: {ex}\n")


if __name__ == "__main__":
    main()
