/*
 * test-jinja — the Jinja subset interpreter (models/chat/jinja.c): every construct against the text
 * Python's jinja2 gives for it, the refusals (unsupported constructs, template errors) with
 * their positions, the limits (nesting, steps, memory, output), and whole chat templates:
 * our own templates of each model family (tests/data/chat/NAME.jinja) against references rendered
 * by scripts/render_chat_templates.py with jinja2, and the models' real templates from
 * ../shared/fixtures/chat-templates/ when that folder exists (templates and their references
 * rendered by the same script).
 *
 *   build/tests/test-jinja [NAME-FILTER]
 *   build/tests/test-jinja --compare TEMPLATE_DIR REFERENCE_DIR   (one line per template)
 */
#include "tf.h"

#include "edgelm.h"
#include "jinja.h"

#include <dirent.h>

/* ---- the conversations of scripts/render_chat_templates.py (keep both in step) ---- */

#define CHAT_NOW 1753531200 /* 2025-07-26 12:00:00 UTC */

static const jinja_msg chat_msgs[] = {
    {"system", "You are a concise assistant.  \n"},
    {"user", "Hello! What's 2+2?"},
    {"assistant", "2+2 is 4."},
    {"user", "  And times 3?\n"},
    {"assistant", "<think>\nMultiply 4 by 3.\n</think>\n\n4\xC3\x97" "3 = 12."},
    {"user", "Thanks \xE2\x80\x94 \"bye\" for now."},
};

typedef struct chat_variant {
    const char *name;
    bool system, add_prompt;
    int thinking;
} chat_variant;

static const chat_variant chat_variants[] = {
    {"chat", true, true, -1},
    {"nothink", true, true, 0},
    {"nosys", false, true, -1},
    {"history", true, false, -1},
};

static const struct {
    const char *prefix, *bos, *eos;
} chat_tokens[] = {
    {"llama3", "<|begin_of_text|>", "<|eot_id|>"},
    {"meta-llama", "<|begin_of_text|>", "<|eot_id|>"},
    {"gemma", "<bos>", "<eos>"},
    {"google-gemma", "<bos>", "<eos>"},
    {"qwen", "<|endoftext|>", "<|im_end|>"},
    {"Qwen", "<|endoftext|>", "<|im_end|>"},
    {"granite", "<|end_of_text|>", "<|end_of_text|>"},
    {"ibm-granite", "<|end_of_text|>", "<|end_of_text|>"},
    {"olmo", "<|endoftext|>", "<|endoftext|>"},
    {"lfm", "<|startoftext|>", "<|im_end|>"},
    {"LFM", "<|startoftext|>", "<|im_end|>"},
    {"phi", "<s>", "<|endoftext|>"},
    {"microsoft-Phi", "<s>", "<|endoftext|>"},
};

/* Renders template file NAME.jinja for a variant (the script's messages and tokens). */
static char *render_variant(const jinja_tmpl *t, const char *name, const chat_variant *v,
                            size_t *len, char *err, size_t err_size) {
    jinja_opts o = {.add_generation_prompt = v->add_prompt, .bos_token = "<s>",
                    .eos_token = "</s>", .enable_thinking = v->thinking, .now = CHAT_NOW};
    for (size_t i = 0; i < sizeof chat_tokens / sizeof chat_tokens[0]; i++) {
        if (!strncmp(name, chat_tokens[i].prefix, strlen(chat_tokens[i].prefix))) {
            o.bos_token = chat_tokens[i].bos;
            o.eos_token = chat_tokens[i].eos;
            break;
        }
    }
    const jinja_msg *m = v->system ? chat_msgs : chat_msgs + 1;
    size_t n = v->system ? sizeof chat_msgs / sizeof chat_msgs[0] : 1;
    if (!v->system && !v->add_prompt) n = sizeof chat_msgs / sizeof chat_msgs[0] - 1;
    return jinja_render(t, m, n, &o, len, err, err_size);
}

typedef struct dir_result {
    int identical, different, refused_both, refused_ours, refused_theirs, no_reference;
} dir_result;

/* Compares every TDIR/NAME.jinja with RDIR/NAME.VARIANT.{txt,err}; verbose prints a line per
 * template and variant. Checks (TF_CHECK) only when check is set. */
static dir_result compare_dir(const char *tdir, const char *rdir, bool verbose, bool check) {
    dir_result r = {0};
    DIR *d = opendir(tdir);
    if (!d) return r;
    char **names = NULL;
    size_t n_names = 0;
    for (struct dirent *de; (de = readdir(d));) {
        size_t l = strlen(de->d_name);
        if (l <= 6 || strcmp(de->d_name + l - 6, ".jinja")) continue;
        char **nn = realloc(names, (n_names + 1) * sizeof *nn);
        if (!nn) break;
        names = nn;
        names[n_names++] = strndup(de->d_name, l - 6);
    }
    closedir(d);
    for (size_t i = 0; i + 1 < n_names; i++) /* sorted, for a stable report */
        for (size_t j = i + 1; j < n_names; j++)
            if (strcmp(names[i], names[j]) > 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    for (size_t i = 0; i < n_names; i++) {
        char path[1024], err[256];
        snprintf(path, sizeof path, "%s/%s.jinja", tdir, names[i]);
        size_t src_len;
        char *src = tf_read_file(path, &src_len);
        jinja_tmpl *t = src ? jinja_parse(src, src_len, err, sizeof err) : NULL;
        char parse_err[256];
        snprintf(parse_err, sizeof parse_err, "%s", t ? "" : err);
        for (size_t v = 0; v < sizeof chat_variants / sizeof chat_variants[0]; v++) {
            const chat_variant *cv = &chat_variants[v];
            size_t ref_len = 0, got_len = 0;
            snprintf(path, sizeof path, "%s/%s.%s.txt", rdir, names[i], cv->name);
            char *ref = tf_read_file(path, &ref_len);
            snprintf(path, sizeof path, "%s/%s.%s.err", rdir, names[i], cv->name);
            size_t ref_err_len;
            char *ref_err = ref ? NULL : tf_read_file(path, &ref_err_len);
            char *got = t ? render_variant(t, names[i], cv, &got_len, err, sizeof err) : NULL;
            const char *why = t ? err : parse_err;
            const char *verdict;
            if (!ref && !ref_err) {
                r.no_reference++;
                verdict = "no reference";
            } else if (ref && got) {
                bool same = ref_len == got_len && !memcmp(ref, got, ref_len);
                if (same) r.identical++;
                else r.different++;
                verdict = same ? "identical" : "DIFFERENT";
                if (check) TF_CHECK(same, "%s.%s: the text differs from jinja2's", names[i], cv->name);
                if (!same && verbose) {
                    size_t k = 0;
                    while (k < ref_len && k < got_len && ref[k] == got[k]) k++;
                    printf("    first difference at byte %zu: ours \"%.40s\" / jinja2 \"%.40s\"\n", k,
                           got + k, ref + k);
                }
            } else if (!ref && !got) {
                r.refused_both++;
                verdict = "refused by both";
            } else if (ref) {
                r.refused_ours++;
                verdict = "REFUSED by edgelm only";
                if (check) TF_CHECK(false, "%s.%s: refused by us: %s", names[i], cv->name, why);
            } else {
                r.refused_theirs++;
                verdict = "RENDERED but jinja2 refused";
                if (check) TF_CHECK(false, "%s.%s: jinja2 refused (%.80s), we rendered", names[i], cv->name, ref_err);
            }
            if (verbose)
                printf("%-50s %-8s %s%s%s\n", names[i], cv->name, verdict,
                       !got && ref ? ": " : "", !got && ref ? why : "");
            free(ref);
            free(ref_err);
            free(got);
        }
        jinja_free(t);
        free(src);
        free(names[i]);
    }
    free(names);
    return r;
}

/* ---- single constructs ---- */

/* Renders src with messages [system, user, assistant] and add_generation_prompt = true. */
static char *render_small(const char *src, char *err, size_t err_size, const jinja_opts *opts) {
    static const jinja_msg msgs[] = {
        {"system", "Be brief."}, {"user", "Hi there"}, {"assistant", " Hello! "}};
    jinja_tmpl *t = jinja_parse(src, strlen(src), err, err_size);
    if (!t) return NULL;
    jinja_opts o = {.add_generation_prompt = true, .bos_token = "<s>", .eos_token = "</s>",
                    .enable_thinking = -1, .now = CHAT_NOW};
    if (opts) o = *opts;
    size_t len;
    char *out = jinja_render(t, msgs, 3, &o, &len, err, err_size);
    jinja_free(t);
    return out;
}

/* Each expected text is what jinja2 3.1 renders for the template (HF's environment). */
static const struct {
    const char *src, *want;
} render_cases[] = {
    /* text, output, comments, whitespace control, trim_blocks / lstrip_blocks */
    {"plain text", "plain text"},
    {"a{# comment #}b", "ab"},
    {"a\n{# c #}\nb", "a\nb"},
    {"{{ 'x' }}\n", "x"},
    {"a  {{- ' b ' -}}  c", "a b c"},
    {"x\n  {% if true %}\n  y\n  {% endif %}\nz", "x\n  y\nz"},
    {"x  {%+ if true %}y{% endif %}", "x  y"},
    {"{% if true -%}\n\n  y  {%- endif %}", "y"},
    {"{% if true +%}\ny{% endif %}", "\ny"},
    {"a {% raw %}{{ not parsed }}{% endraw %} b", "a {{ not parsed }} b"},
    {"line1\r\nline2\r\n", "line1\nline2"},
    /* literals and printing (Python's str) */
    {"{{ 1 }} {{ -2 }} {{ 1.5 }} {{ 2.0 }} {{ 1e16 }} {{ 1.5e-5 }} {{ 0.1 + 0.2 }}",
     "1 -2 1.5 2.0 1e+16 1.5e-05 0.30000000000000004"},
    {"{{ true }} {{ False }} {{ none }} {{ None }} [{{ undefined_name }}]", "True False None None []"},
    {"{{ [1, 'a', none, true, 1.5] }} {{ {'k': [1]} }} {{ (1,) }} {{ (1, 'b') }}",
     "[1, 'a', None, True, 1.5] {'k': [1]} (1,) (1, 'b')"},
    {"{{ \"it's\" }} {{ ['it\\'s', 'a\\nb'] }}", "it's [\"it's\", 'a\\nb']"},
    {"{{ 'a' 'b' }} {{ '\\u00e9\\x41\\t|' }}", "ab \xC3\xA9" "A\t|"},
    /* arithmetic, concatenation, comparison, logic */
    {"{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 3 / 2 }} {{ 4 / 2 }} {{ 2 ** 10 }} {{ 2 * 3 + 1 }}",
     "3 -4 2 -2 1.5 2.0 1024 7"},
    {"{{ 'ab' ~ 1 ~ none }} {{ 'x' * 3 }} {{ [1] + [2] }} {{ 'a' + 'b' }} {{ true + 1 }}",
     "ab1None xxx [1, 2] ab 2"},
    {"{{ 1 < 2 < 3 }} {{ 1 == 1.0 }} {{ 'a' != 'b' }} {{ 'b' > 'a' }} {{ [1, 2] < [1, 3] }}",
     "True True True True True"},
    {"{{ 'ell' in 'hello' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1] }} {{ 'x' in undefined_name }}",
     "True True True True False"},
    {"{{ 0 or 'x' }} {{ 1 and 'y' }} {{ '' and 'z' }} {{ not 0 }} {{ not 1 == 1 }}", "x y  True False"},
    {"{{ 'a' if true else 'b' }}{{ 'c' if false else 'd' }}[{{ 'e' if false }}]", "ad[]"},
    {"{{ -3 + 5 }} {{ - 2 ** 2 }} {{ (1 + 2) * 3 }}", "2 4 9"},
    /* subscripts, slices, attributes */
    {"{{ messages[0]['role'] }} {{ messages[1].content }} {{ messages[-1].role }} [{{ messages[9] }}]",
     "system Hi there assistant []"},
    {"{{ 'héllo'[1] }} {{ 'héllo'[::-1] }} {{ 'abcdef'[1:4] }} {{ 'abcdef'[::2] }} {{ [1,2,3,4][-2:] }} {{ [1,2,3][::-1] }}",
     "é olléh bcd ace [3, 4] [3, 2, 1]"},
    {"{{ (messages | length) - 1 }} {{ messages[1:] | length }} {{ [1,2,3][5:] }} {{ [1,2,3][-9:1] }}",
     "2 2 [] [1]"},
    {"{{ {'a': 1}.a }} {{ {'a': 1}['a'] }} [{{ {'a': 1}.b }}] {{ [1, 2].0 }}", "1 1 [] 1"},
    /* string methods */
    {"[{{ '  x  '.strip() }}][{{ 'xxaxx'.strip('x') }}][{{ '\\n\\na\\n'.lstrip('\\n') }}][{{ 'a  '.rstrip() }}]",
     "[x][a][a\n][a]"},
    {"{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'x</t>y</t>z'.split('</t>')[-1] }}",
     "['a', 'b', '', 'c'] ['a', 'b'] ['a', 'b c'] z"},
    {"{{ 'hello'.startswith('he') }} {{ 'hello'.endswith('lo') }} {{ 'hello'.startswith(('x', 'h')) }} {{ 'ab'.endswith('abc') }}",
     "True True True False"},
    {"{{ 'a-b-c'.replace('-', '+') }} {{ 'a-b-c'.replace('-', '', 1) }} {{ 'MiXed'.upper() }} {{ 'MiXed'.lower() }} {{ 'hELLO wORLD'.capitalize() }}",
     "a+b+c ab-c MIXED mixed Hello world"},
    {"{{ 'abc'.find('c') }} {{ 'abc'.find('z') }} {{ ', '.join(['a', 'b']) }} {{ 'ÀÉ'.lower() }}", "2 -1 a, b àé"},
    /* dict methods */
    {"{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %} {{ {'a': 1}.get('a') }} {{ {'a': 1}.get('z', 'd') }} {{ {'a': 1}.get('z') }}",
     "a=1;b=2; 1 d None"},
    {"{{ {'a': 1, 'b': 2}.keys() | list }} {{ {'a': 1, 'b': 2}.values() | list }}", "['a', 'b'] [1, 2]"},
    /* filters */
    {"[{{ '  t  ' | trim }}][{{ 'xxtxx' | trim('x') }}] {{ messages | length }} {{ 'héllo' | length }} {{ 'ab' | upper }} {{ 'AB' | lower }} {{ 'aB' | capitalize }}",
     "[t][t] 3 5 AB ab Ab"},
    {"{{ 1 | string ~ 'x' }} {{ undefined_name | default('d') }} {{ '' | default('e', true) }} {{ '' | default('e') }}|{{ none | default('n') }}",
     "1x d e |None"},
    {"{{ ['a', 'b'] | join(', ') }} {{ [1, 2] | join }} {{ messages | map(attribute='role') | join('/') }}",
     "a, b 12 system/user/assistant"},
    {"{{ [1, 2, 3] | first }} {{ [1, 2, 3] | last }} {{ 'abc' | first }} {{ 'a.b.a' | replace('a', 'x') }} {{ [3, 1] | reverse | list }} {{ 'abc' | reverse }}",
     "1 3 a x.b.x [1, 3] cba"},
    {"{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | list }} {{ messages | rejectattr('role', 'in', ['system', 'user']) | list | length }}",
     "['Hi there'] 1"},
    {"{{ [0, 1, 2, 3] | select('odd') | list }} {{ [0, 1, '', 'a'] | select | list }} {{ [1, 2] | reject('even') | list }}",
     "[1, 3] [1, 'a'] [1]"},
    {"{% for k, v in {'x': 1} | items %}{{ k }}{{ v }}{% endfor %}{{ undefined_name | items | list }}", "x1[]"},
    {"{{ -3 | abs }} {{ '42' | int + 1 }} {{ 3.9 | int }} {{ ['a'] | safe }}", "3 43 3 ['a']"},
    {"{{ {'a': [1, 'x\"\\n', none, true, 1.5], 'b': {}} | tojson }}", "{\"a\": [1, \"x\\\"\\n\", null, true, 1.5], \"b\": {}}"},
    {"{{ {'a': [1, {'c': 'é'}], 'b': []} | tojson(indent=2) }}",
     "{\n  \"a\": [\n    1,\n    {\n      \"c\": \"\xC3\xA9\"\n    }\n  ],\n  \"b\": []\n}"},
    {"{{ 'ab' | tojson }} {{ 1 | tojson }} {{ none | tojson }}", "\"ab\" 1 null"},
    /* tests */
    {"{{ x is defined }} {{ messages is defined }} {{ x is undefined }} {{ none is none }} {{ 'a' is string }} {{ 1 is string }}",
     "False True True True True False"},
    {"{{ {} is mapping }} {{ [] is mapping }} {{ 'a' is iterable }} {{ 1 is iterable }} {{ [] is sequence }} {{ 1 is number }} {{ 1 is integer }} {{ 1.0 is float }}",
     "True False True False True True True True"},
    {"{{ false is false }} {{ 0 is false }} {{ true is true }} {{ true is boolean }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }}",
     "True False True True True True True False"},
    {"{{ 'a' is equalto 'a' }} {{ 1 is eq 2 }} {{ 1 is ne 2 }} {{ 'a' is in 'abc' }} {{ 2 is not none }} {{ 'ab' is lower }} {{ 'AB' is upper }} {{ range is callable }}",
     "True False True True True True True True"},
    /* if / elif / else */
    {"{% if false %}a{% elif 0 %}b{% elif 'x' %}c{% else %}d{% endif %}", "c"},
    {"{% if false %}a{% else %}b{% endif %}{% if none %}c{% endif %}", "b"},
    /* for, loop variables, else, filters, unpacking, break / continue, scoping */
    {"{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}",
     "1032TrueFalse3;2121FalseFalse3;3210FalseTrue3;"},
    {"{% for x in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }}-{{ loop.cycle('a', 'b') }};{% endfor %}", "-2-a;1-3-b;2--a;"},
    {"{% for x in [] %}a{% else %}empty{% endfor %}{% for x in undefined_name %}b{% endfor %}", "empty"},
    {"{% for x in [1, 2, 3, 4] if x is even %}{{ x }}{{ loop.index }}{{ loop.length }};{% endfor %}", "212;422;"},
    {"{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }};{% endfor %}{% for (a, b) in [(5, 6)] %}{{ a * b }}{% endfor %}", "3;7;30"},
    {"{% for x in 'hé' %}[{{ x }}]{% endfor %}{% for k in {'a': 1, 'b': 2} %}{{ k }}{% endfor %}", "[h][é]ab"},
    {"{% for x in [1, 2, 3, 4] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}", "13"},
    {"{% for i in [1, 2] %}{% for j in [1, 2] %}{% if j == 2 %}{% break %}{% endif %}{{ i }}{{ j }};{% endfor %}{% endfor %}", "11;21;"},
    {"{% set x = 'out' %}{% for i in [1, 2] %}[{{ x }}]{% if i == 1 %}{% set x = 'in' %}{% endif %}({{ x }}){% endfor %}{{ x }}",
     "[out](in)[out](out)out"},
    {"{% for i in range(3) %}{{ i }}{% endfor %} {{ range(1, 7, 2) | list }} {{ range(3, 0, -1) | list }}", "012 [1, 3, 5] [3, 2, 1]"},
    /* set, namespace, set blocks */
    {"{% set a = 1 %}{% set b, c = [2, 3] %}{{ a + b + c }}{% set d = 'x', 'y' %}{{ d }}", "6('x', 'y')"},
    {"{% set ns = namespace(n=0, s='') %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% set ns.s = ns.s ~ m.role[0] %}{% endfor %}{{ ns.n }} {{ ns.s }}",
     "3 sua"},
    {"{% set block %}inner {{ 1 + 1 }}{% endset %}[{{ block }}]", "[inner 2]"},
    {"{% set messages = messages[1:] %}{{ messages | length }}{{ messages[0].role }}", "2user"},
    {"{{ dict(a=1)['a'] }}", "1"},
    /* macros */
    {"{% macro tag(name, close=false) %}<{{ '/' if close }}{{ name }}>{% endmacro %}{{ tag('b') }}x{{ tag('b', close=true) }}", "<b>x</b>"},
    {"{% macro m(x) %}{% set y = x * 2 %}{{ y }}{% endmacro %}{{ m(2) }}{{ m(x=3) }}[{{ y }}]", "46[]"},
    /* the chat globals */
    {"{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content | trim }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}{{ eos_token }}",
     "<s><system>Be brief.<user>Hi there<assistant>Hello!<assistant></s>"},
    {"{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M') }}|{{ strftime_now('%B %d, %Y') }}",
     "26 Jul 2025|2025-07-26 12:00|July 26, 2025"},
    {"{{ tools is none }} {{ documents is none }} {{ enable_thinking is defined }}", "True True False"},
};

TF_TEST(jinja_constructs) {
    for (size_t i = 0; i < sizeof render_cases / sizeof render_cases[0]; i++) {
        char err[256];
        char *got = render_small(render_cases[i].src, err, sizeof err, NULL);
        TF_CHECK(got && !strcmp(got, render_cases[i].want), "case %zu: %s\n      want \"%s\"\n      got  \"%s\"%s%s",
                 i, render_cases[i].src, render_cases[i].want, got ? got : "(error)", got ? "" : ": ",
                 got ? "" : err);
        free(got);
    }
}

TF_TEST(jinja_options) {
    char err[256];
    jinja_opts o = {.enable_thinking = 0, .now = 0};
    char *got = render_small("{{ enable_thinking }} {{ add_generation_prompt }} [{{ bos_token }}] "
                             "{{ strftime_now('%Y') }}", err, sizeof err, &o);
    TF_CHECK(got && !strcmp(got, "False False [] 1970"), "got %s", got ? got : err);
    free(got);
    o.enable_thinking = 1;
    got = render_small("{% if enable_thinking is defined and enable_thinking is false %}off{% else %}on{% endif %}",
                       err, sizeof err, &o);
    TF_CHECK(got && !strcmp(got, "on"), "got %s", got ? got : err);
    free(got);
    /* Messages with no content are None. */
    static const jinja_msg m[] = {{"user", NULL}};
    jinja_tmpl *t = jinja_parse("{{ messages[0].content is none }}", 33, err, sizeof err);
    jinja_opts d = {.enable_thinking = -1};
    size_t len = 0;
    char *s = t ? jinja_render(t, m, 1, &d, &len, err, sizeof err) : NULL;
    TF_CHECK(s && !strcmp(s, "True") && len == 4, "got %s", s ? s : err);
    free(s);
    jinja_free(t);
}

/* Refusals: the message names the construct and where it is. */
static const struct {
    const char *src, *want;
} error_cases[] = {
    {"{% include 'x.jinja' %}", "line 1, column 4: unsupported tag 'include'"},
    {"ok\n{% extends 'base' %}", "line 2, column 4: unsupported tag 'extends'"},
    {"{% for m in messages recursive %}{% endfor %}", "recursive loops are not supported"},
    {"{{ x | wordwrap }}", "line 1, column 8: unsupported filter 'wordwrap'"},
    {"{{ 1 is divisibleby 0 }}", "divisibleby 0"},
    {"{{ 1 is prime }}", "unsupported test 'prime'"},
    {"{{ 'a'.format(1) }}", "string method 'format' is not supported"},
    {"{{ {}.update({'a': 1}) }}", "dict method 'update' is not supported"},
    {"{{ [].append(1) }}", "list method 'append' is not supported"},
    {"{{ lipsum(2) }}", "'lipsum' is undefined or not a supported function"},
    {"{{ '%s' % 1 }}", "string formatting with '%' is not supported"},
    {"{{ raise_exception('Only user and assistant roles') }}", "template error: Only user and assistant roles"},
    {"{{ missing.attr }}", "line 1, column 4: 'missing' is undefined"},
    {"{{ missing + 'x' }}", "'missing' is undefined"},
    {"{{ 'a' + 1 }}", "unsupported operand kinds for '+': string and int"},
    {"{{ 1 / 0 }}", "division by zero"},
    {"{{ 9223372036854775807 + 1 }}", "integer overflow"},
    {"{{ 99999999999999999999 }}", "integer literal too large"},
    {"{{ 1 < 'a' }}", "cannot order int and string"},
    {"{% for x in 5 %}{% endfor %}", "a int is not iterable"},
    {"{{ 1 | length }}", "a int has no length"},
    {"{% set a, b = [1] %}", "cannot unpack 1 values into 2 names"},
    {"{% set x.y = 1 %}", "'x' is not a namespace"},
    {"{% if true %}x", "missing {% endif %}"},
    {"{% for x in y %}x{% endif %}", "unexpected {% endif %}"},
    {"{% endfor %}", "unexpected {% endfor %}"},
    {"{% break %}", "'break' outside a loop"},
    {"{{ 'abc }}", "unterminated string"},
    {"{{ x ", "unclosed '{{' tag"},
    {"{# x", "unclosed comment"},
    {"{{ x $ y }}", "line 1, column 6: unexpected character '$'"},
    {"{{ a b }}", "expected '}}', found 'b'"},
    {"{{ f(*args) }}", "*args and **kwargs are not supported"},
    {"{{ x | tojson(sort_keys=true) }}", "tojson: ensure_ascii, sort_keys and separators are not supported"},
    {"{{ undefined_name | tojson }}", "tojson: an undefined value is not JSON serializable"},
    {"{{ strftime_now('%c') }}", "strftime_now: unsupported conversion '%c'"},
    {"{{ 'é'.upper() }}", "upper-casing the non-ASCII letter U+00E9 is not supported"},
    {"{{ loop.changed(1) }}", "'loop' is undefined"},
    {"{% for x in [1] %}{{ loop.changed(x) }}{% endfor %}", "loop.changed is not supported"},
    {"{{ range(10000000) | length }}", "range of more than a million items"},
    {"{% macro m() %}{% macro n() %}{% endmacro %}{% endmacro %}", "a macro inside a macro is not supported"},
    {"{{ [1][::0] }}", "slice step cannot be zero"},
    {"{% set x | upper %}y{% endset %}", "line 1, column 10: filters on {% set %} blocks are not supported"},
};

TF_TEST(jinja_errors) {
    for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
        char err[256] = "";
        char *got = render_small(error_cases[i].src, err, sizeof err, NULL);
        TF_CHECK(!got && strstr(err, error_cases[i].want), "case %zu: %s\n      want error \"%s\"\n      got  %s \"%s\"",
                 i, error_cases[i].src, error_cases[i].want, got ? "text" : "error", got ? got : err);
        free(got);
    }
}

/* A template an attacker wrote cannot take unbounded time, memory, stack or output. */
TF_TEST(jinja_limits) {
    char err[256];
    /* Nesting: 200 parentheses, 200 nested ifs, 200 nots. */
    char *src = malloc(4096);
    size_t n = 0;
    n += (size_t)sprintf(src + n, "{{ ");
    for (int i = 0; i < 200; i++) src[n++] = '(';
    src[n++] = '1';
    for (int i = 0; i < 200; i++) src[n++] = ')';
    n += (size_t)sprintf(src + n, " }}");
    jinja_tmpl *t = jinja_parse(src, n, err, sizeof err);
    TF_CHECK(!t && strstr(err, "nesting deeper than 64"), "parens: %s", err);
    jinja_free(t);
    n = 0;
    for (int i = 0; i < 200; i++) n += (size_t)sprintf(src + n, "{%% if 1 %%}");
    t = jinja_parse(src, n, err, sizeof err);
    TF_CHECK(!t && strstr(err, "nesting deeper than 64"), "ifs: %s", err);
    jinja_free(t);
    n = (size_t)sprintf(src, "{{ ");
    for (int i = 0; i < 200; i++) n += (size_t)sprintf(src + n, "not ");
    n += (size_t)sprintf(src + n, "1 }}");
    t = jinja_parse(src, n, err, sizeof err);
    TF_CHECK(!t && strstr(err, "nesting deeper than 64"), "nots: %s", err);
    jinja_free(t);
    /* 40 nested ifs are fine. */
    n = 0;
    for (int i = 0; i < 40; i++) n += (size_t)sprintf(src + n, "{%% if 1 %%}");
    src[n++] = 'x';
    for (int i = 0; i < 40; i++) n += (size_t)sprintf(src + n, "{%% endif %%}");
    char *got = NULL;
    src[n] = '\0';
    got = render_small(src, err, sizeof err, NULL);
    TF_CHECK(got && !strcmp(got, "x"), "40 ifs: %s", got ? got : err);
    free(got);
    free(src);
    /* Huge loops: steps run out. */
    got = render_small("{% set l = range(1000) %}{% for i in l %}{% for j in l %}{% for k in l %}{% endfor %}"
                       "{% endfor %}{% endfor %}", err, sizeof err, NULL);
    TF_CHECK(!got && strstr(err, "steps"), "loops: %s", err);
    free(got);
    /* Long output refused at the output limit. */
    jinja_opts o = {.add_generation_prompt = true, .enable_thinking = -1, .max_output = 1000};
    got = render_small("{% for i in range(100) %}0123456789abcdef{% endfor %}", err, sizeof err, &o);
    TF_CHECK(!got && strstr(err, "longer than 1000 bytes"), "output: %s", err);
    free(got);
    /* Memory: doubling a string until the arena limit. */
    got = render_small("{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s | length }}",
                       err, sizeof err, NULL);
    TF_CHECK(!got && strstr(err, "bytes of memory"), "memory: %s", err);
    free(got);
    got = render_small("{{ 'x' * 10000000000 }}", err, sizeof err, NULL);
    TF_CHECK(!got && strstr(err, "repetition too large"), "repeat: %s", err);
    free(got);
    /* Recursion through macros. */
    got = render_small("{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}", err, sizeof err, NULL);
    TF_CHECK(!got && strstr(err, "macro calls nested deeper than 16"), "macro recursion: %s", err);
    free(got);
    /* Values nested deeply, or a namespace holding itself, cannot exhaust the stack. */
    got = render_small("{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}"
                       "{{ ns.x }}", err, sizeof err, NULL);
    TF_CHECK(!got && strstr(err, "values nested deeper than 256"), "deep list: %s", err);
    free(got);
    got = render_small("{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}"
                       "{{ ns.x == ns.x }}", err, sizeof err, NULL);
    TF_CHECK(!got && strstr(err, "values nested deeper than 256"), "deep compare: %s", err);
    free(got);
    got = render_small("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}", err, sizeof err, NULL);
    TF_CHECK(!got && strstr(err, "a namespace holding itself"), "cycle: %s", err);
    free(got);
    /* Oversized source. */
    size_t big = JINJA_MAX_SOURCE + 1;
    char *huge = malloc(big);
    memset(huge, 'a', big);
    t = jinja_parse(huge, big, err, sizeof err);
    TF_CHECK(!t && strstr(err, "at most"), "size: %s", err);
    jinja_free(t);
    free(huge);
    /* Embedded NUL bytes and invalid UTF-8 are text like any other. */
    static const char odd[] = "a\0b\xFF{{ '\xC3' | length }}";
    t = jinja_parse(odd, sizeof odd - 1, err, sizeof err);
    jinja_opts d = {.enable_thinking = -1};
    size_t len = 0;
    got = t ? jinja_render(t, NULL, 0, &d, &len, err, sizeof err) : NULL;
    TF_CHECK(got && len == 5 && !memcmp(got, "a\0b\xFF" "1", 5), "odd bytes: %s", got ? "wrong text" : err);
    free(got);
    jinja_free(t);
}

/* Our own templates of each model family (tests/data/chat/NAME.jinja) against jinja2. */
TF_TEST(jinja_family_templates) {
    dir_result r = compare_dir("tests/data/chat", "tests/data/chat", false, true);
    TF_CHECK(r.identical >= 50, "%d identical renderings (want every family x 4 variants)", r.identical);
    TF_CHECK(r.no_reference == 0, "%d renderings without a reference: run scripts/render_chat_templates.py tests/data/chat",
             r.no_reference);
}

/* The family each of our templates is written for, and the built-in layout standing in for it. */
TF_TEST(chat_family_detection) {
    static const struct {
        const char *file, *family;
        elm_chat_template layout;
    } cases[] = {
        {"llama3", "llama3", ELM_CHAT_LLAMA3},   {"qwen3", "qwen3", ELM_CHAT_CHATML},
        {"qwen25", "qwen2.5", ELM_CHAT_CHATML},   {"gemma2", "gemma2", ELM_CHAT_GEMMA},
        {"gemma3", "gemma3", ELM_CHAT_GEMMA},    {"phi3", "phi3", ELM_CHAT_PHI3},
        {"phi4mini", "phi4-mini", ELM_CHAT_PHI3}, {"smollm2", "smollm2", ELM_CHAT_CHATML},
        {"smollm3", "smollm3", ELM_CHAT_CHATML}, {"granite3", "granite", ELM_CHAT_GRANITE},
        {"olmo2", "olmo2", ELM_CHAT_ZEPHYR},     {"lfm2", "lfm2", ELM_CHAT_CHATML},
        {"chatml", "chatml", ELM_CHAT_CHATML},   {"mistral", "mistral", ELM_CHAT_MISTRAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "tests/data/chat/%s.jinja", cases[i].file);
        size_t len;
        char *src = tf_read_file(path, &len);
        TF_CHECK(src != NULL, "%s", path);
        if (!src) continue;
        const char *fam = elm_chat_template_family(src);
        TF_CHECK(fam && !strcmp(fam, cases[i].family), "%s: family %s, want %s", cases[i].file,
                 fam ? fam : "(none)", cases[i].family);
        TF_CHECK(elm_chat_template_detect(src) == cases[i].layout, "%s: layout %s", cases[i].file,
                 elm_chat_template_name(elm_chat_template_detect(src)));
        free(src);
    }
    TF_CHECK(elm_chat_template_family("{{ messages }}") == NULL);
    TF_CHECK(elm_chat_template_detect("{{ messages }}") == ELM_CHAT_UNKNOWN);
}

/* The public entry point: sizes, truncation, errors. */
TF_TEST(chat_render_jinja_api) {
    static const char tmpl[] = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
                               "{% if add_generation_prompt %}<assistant>{% endif %}";
    const elm_chat_msg msgs[] = {{"system", "S"}, {"user", "U"}};
    elm_chat_jinja_opts o = {.add_assistant = true, .enable_thinking = -1};
    elm_error err = {0};
    const char *want = "<system>S<user>U<assistant>";
    int64_t n = elm_chat_render_jinja(tmpl, sizeof tmpl - 1, msgs, 2, &o, NULL, 0, &err);
    TF_CHECK(n == (int64_t)strlen(want), "length %lld", (long long)n);
    char buf[64], small[8];
    TF_CHECK(elm_chat_render_jinja(tmpl, sizeof tmpl - 1, msgs, 2, &o, buf, sizeof buf, &err) == n &&
             !strcmp(buf, want), "%s", buf);
    TF_CHECK(elm_chat_render_jinja(tmpl, sizeof tmpl - 1, msgs, 2, &o, small, sizeof small, &err) == n &&
             !strcmp(small, "<system"), "truncated: %s", small);
    static const char bad[] = "{% call foo() %}{% endcall %}";
    TF_CHECK(elm_chat_render_jinja(bad, sizeof bad - 1, msgs, 2, &o, buf, sizeof buf, &err) == ELM_ERR_UNSUPPORTED &&
             strstr(err.msg, "line 1, column 4: unsupported tag 'call'"), "%s", err.msg);
    static const char raise[] = "{{ raise_exception('no system role') }}";
    TF_CHECK(elm_chat_render_jinja(raise, sizeof raise - 1, msgs, 2, &o, buf, sizeof buf, &err) < 0 &&
             strstr(err.msg, "template error: no system role"), "%s", err.msg);
}

/* The models' real templates, when the shared fixtures hold them with their references. */
TF_TEST(jinja_fixture_templates) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/chat-templates", tf_fixtures_dir());
    DIR *d = opendir(dir);
    if (!d) {
        tf_skip("%s is absent (real chat templates + scripts/render_chat_templates.py outputs)", dir);
        return;
    }
    closedir(d);
    dir_result r = compare_dir(dir, dir, false, true);
    if (r.identical + r.different + r.refused_ours == 0) {
        tf_skip("%s holds no templates with references", dir);
        return;
    }
    TF_CHECK(r.different == 0 && r.refused_ours == 0, "%d differ, %d refused by us", r.different, r.refused_ours);
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "--compare")) {
        dir_result r = compare_dir(argv[2], argv[3], true, false);
        printf("identical %d, different %d, refused by both %d, refused by edgelm only %d, "
               "rendered where jinja2 refused %d, no reference %d\n", r.identical, r.different,
               r.refused_both, r.refused_ours, r.refused_theirs, r.no_reference);
        return r.different || r.refused_theirs ? 1 : 0;
    }
    return tf_main(argc, argv);
}
