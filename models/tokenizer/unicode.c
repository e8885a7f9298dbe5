/*
 * unicode.c — UTF-8 coding and Unicode property lookups over the generated tables in
 * unicode_data.c (binary searches over sorted ranges; nothing is built at run time).
 */
#include "unicode.h"

/* The generated tables (unicode_data.c). */
extern const uint32_t *const elm_uc_cat_ranges;
extern const uint32_t elm_uc_n_cat_ranges;
extern const uint32_t *const elm_uc_white_space;
extern const uint32_t elm_uc_n_white_space;
extern const uint32_t elm_uc_ccc_tab[][3];
extern const uint32_t elm_uc_n_ccc;
extern const uint32_t elm_uc_nfd_tab[][3];
extern const uint32_t elm_uc_n_nfd;
extern const uint32_t *const elm_uc_nfd_pool;
extern const uint32_t elm_uc_comp_tab[][3];
extern const uint32_t elm_uc_n_comp;
extern const int32_t elm_uc_lower[][4];
extern const uint32_t elm_uc_n_lower;
extern const uint32_t elm_uc_lower_multi[][5];
extern const uint32_t elm_uc_n_lower_multi;

int elm_utf8_seq_len(unsigned char lead) {
    if (lead < 0x80) return 1;
    if (lead < 0xC2) return 0; /* continuation byte, or an overlong 2-byte lead */
    if (lead < 0xE0) return 2;
    if (lead < 0xF0) return 3;
    if (lead < 0xF5) return 4;
    return 0;
}

uint32_t elm_utf8_decode(const char *s, size_t len, size_t *adv) {
    const unsigned char *u = (const unsigned char *)s;
    *adv = 1;
    int n = elm_utf8_seq_len(u[0]);
    if (n == 1) return u[0];
    if (n == 0 || (size_t)n > len) return ELM_UTF8_INVALID;
    uint32_t cp = u[0] & (0x7F >> n);
    for (int i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80) return ELM_UTF8_INVALID;
        cp = (cp << 6) | (u[i] & 0x3F);
    }
    /* Reject overlongs, surrogates and code points past U+10FFFF. */
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return ELM_UTF8_INVALID;
    *adv = (size_t)n;
    return cp;
}

int elm_utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp <= 0x10FFFF) {
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        return 4;
    }
    return 0;
}

elm_uc_cat elm_uc_category(uint32_t cp) {
    if (cp > 0x10FFFF) return ELM_UC_CN;
    /* Last range whose start is <= cp (the first range starts at 0). */
    uint32_t lo = 0, hi = elm_uc_n_cat_ranges;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if ((elm_uc_cat_ranges[mid] >> 5) <= cp) lo = mid;
        else hi = mid;
    }
    return (elm_uc_cat)(elm_uc_cat_ranges[lo] & 31);
}

const char *elm_uc_cat_name(elm_uc_cat c) {
    static const char names[ELM_UC_N_CATS][3] = {
        "Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps",
        "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co"};
    return (unsigned)c < ELM_UC_N_CATS ? names[c] : "??";
}

/* Whether cp's general category lies in [lo, hi] (the categories of one major class are
 * consecutive in elm_uc_cat). */
static bool uc_cat_in(uint32_t cp, elm_uc_cat lo, elm_uc_cat hi) {
    const elm_uc_cat c = elm_uc_category(cp);
    return c >= lo && c <= hi;
}

bool elm_uc_is_letter(uint32_t cp) { return uc_cat_in(cp, ELM_UC_LU, ELM_UC_LO); }
bool elm_uc_is_mark(uint32_t cp) { return uc_cat_in(cp, ELM_UC_MN, ELM_UC_ME); }
bool elm_uc_is_number(uint32_t cp) { return uc_cat_in(cp, ELM_UC_ND, ELM_UC_NO); }
bool elm_uc_is_punct(uint32_t cp) { return uc_cat_in(cp, ELM_UC_PC, ELM_UC_PO); }
bool elm_uc_is_symbol(uint32_t cp) { return uc_cat_in(cp, ELM_UC_SM, ELM_UC_SO); }
bool elm_uc_is_separator(uint32_t cp) { return uc_cat_in(cp, ELM_UC_ZS, ELM_UC_ZP); }
bool elm_uc_is_other(uint32_t cp) {
    elm_uc_cat c = elm_uc_category(cp);
    return c == ELM_UC_CN || c >= ELM_UC_CC;
}

bool elm_uc_is_whitespace(uint32_t cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    uint32_t lo = 0, hi = elm_uc_n_white_space;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (elm_uc_white_space[mid] < cp) lo = mid + 1;
        else hi = mid;
    }
    return lo < elm_uc_n_white_space && elm_uc_white_space[lo] == cp;
}

/* The first of the n rows of tab (sorted by column col) whose column col is >= key; n if none. */
static uint32_t uc_lower_bound(const uint32_t (*tab)[3], uint32_t n, int col, uint32_t key) {
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (tab[mid][col] < key) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

int elm_uc_ccc(uint32_t cp) {
    /* rows {first, last, class}: the first range whose last is >= cp */
    const uint32_t lo = uc_lower_bound(elm_uc_ccc_tab, elm_uc_n_ccc, 1, cp);
    return lo < elm_uc_n_ccc && elm_uc_ccc_tab[lo][0] <= cp ? (int)elm_uc_ccc_tab[lo][2] : 0;
}

/* Hangul syllables decompose arithmetically (Unicode §3.12). */
enum { UC_S_BASE = 0xAC00, UC_L_BASE = 0x1100, UC_V_BASE = 0x1161, UC_T_BASE = 0x11A7,
       UC_V_COUNT = 21, UC_T_COUNT = 28, UC_S_COUNT = 11172 };

int elm_uc_decompose(uint32_t cp, uint32_t *out, int max) {
    if (cp >= UC_S_BASE && cp < UC_S_BASE + UC_S_COUNT) {
        uint32_t s = cp - UC_S_BASE, t = s % UC_T_COUNT;
        uint32_t parts[3] = {UC_L_BASE + s / (UC_V_COUNT * UC_T_COUNT),
                             UC_V_BASE + (s % (UC_V_COUNT * UC_T_COUNT)) / UC_T_COUNT,
                             UC_T_BASE + t};
        int n = t ? 3 : 2;
        for (int i = 0; i < n && i < max; i++) out[i] = parts[i];
        return n;
    }
    const uint32_t lo = uc_lower_bound(elm_uc_nfd_tab, elm_uc_n_nfd, 0, cp);
    if (lo < elm_uc_n_nfd && elm_uc_nfd_tab[lo][0] == cp) {
        int n = (int)elm_uc_nfd_tab[lo][2];
        for (int i = 0; i < n && i < max; i++) out[i] = elm_uc_nfd_pool[elm_uc_nfd_tab[lo][1] + i];
        return n;
    }
    if (max > 0) out[0] = cp;
    return 1;
}

size_t elm_uc_nfd(const uint32_t *in, size_t n, uint32_t *out, size_t max) {
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t tmp[8];
        int k = elm_uc_decompose(in[i], tmp, 8);
        if (k > 8) k = 8; /* no canonical decomposition is longer than 4 */
        for (int j = 0; j < k; j++) {
            if (len < max) {
                /* Canonical ordering: a mark moves left past marks of a higher class
                 * (stable insertion sort within each run of non-starters). */
                int c = elm_uc_ccc(tmp[j]);
                size_t p = len;
                while (c != 0 && p > 0) {
                    int pc = elm_uc_ccc(out[p - 1]);
                    if (pc <= c) break;
                    out[p] = out[p - 1];
                    p--;
                }
                out[p] = tmp[j];
            }
            len++;
        }
    }
    return len;
}

uint32_t elm_uc_compose(uint32_t a, uint32_t b) {
    /* Hangul: L + V -> LV, LV + T -> LVT (Unicode §3.12) */
    if (a >= UC_L_BASE && a < UC_L_BASE + 19 && b >= UC_V_BASE && b < UC_V_BASE + UC_V_COUNT)
        return UC_S_BASE + ((a - UC_L_BASE) * UC_V_COUNT + (b - UC_V_BASE)) * UC_T_COUNT;
    if (a >= UC_S_BASE && a < UC_S_BASE + UC_S_COUNT && (a - UC_S_BASE) % UC_T_COUNT == 0 && b > UC_T_BASE &&
        b < UC_T_BASE + UC_T_COUNT)
        return a + (b - UC_T_BASE);
    uint32_t lo = 0, hi = elm_uc_n_comp;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const uint32_t *e = elm_uc_comp_tab[mid];
        if (e[0] < a || (e[0] == a && e[1] < b)) lo = mid + 1;
        else hi = mid;
    }
    if (lo < elm_uc_n_comp && elm_uc_comp_tab[lo][0] == a && elm_uc_comp_tab[lo][1] == b) return elm_uc_comp_tab[lo][2];
    return 0;
}

/* Canonical composition of an NFD string in place (Unicode §3.11, D117): each character
 * joins the last starter when nothing between them blocks it (a blocker is a character of
 * the same or a higher combining class, or any starter). Returns the new length. */
static size_t uc_compose_in_place(uint32_t *s, size_t n) {
    const size_t none = (size_t)-1;
    size_t starter = none, out = 0;
    int last = 0; /* class of the last character kept after the starter (0: none yet) */
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        int cc = elm_uc_ccc(c);
        uint32_t comp = starter != none && (last == 0 || last < cc) ? elm_uc_compose(s[starter], c) : 0;
        if (comp && (out == starter + 1 || last < cc)) {
            s[starter] = comp;
            continue;
        }
        if (cc == 0) starter = out;
        last = cc;
        s[out++] = c;
    }
    return out;
}

size_t elm_uc_nfc(const uint32_t *in, size_t n, uint32_t *out, size_t max) {
    size_t need = elm_uc_nfd(in, n, out, max);
    if (need > max) return need;
    return uc_compose_in_place(out, need);
}

int elm_uc_tolower(uint32_t cp, uint32_t out[3]) {
    for (uint32_t i = 0; i < elm_uc_n_lower_multi; i++) {
        if (elm_uc_lower_multi[i][0] == cp) {
            int n = (int)elm_uc_lower_multi[i][1];
            for (int j = 0; j < n; j++) out[j] = elm_uc_lower_multi[i][2 + j];
            return n;
        }
    }
    out[0] = elm_uc_tolower1(cp);
    return 1;
}

uint32_t elm_uc_tolower1(uint32_t cp) {
    if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    for (uint32_t i = 0; i < elm_uc_n_lower_multi; i++)
        if (elm_uc_lower_multi[i][0] == cp) return elm_uc_lower_multi[i][2];
    /* Last run starting at or before cp. */
    uint32_t lo = 0, hi = elm_uc_n_lower;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if ((uint32_t)elm_uc_lower[mid][0] <= cp) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return cp;
    const int32_t *r = elm_uc_lower[lo - 1];
    if (cp <= (uint32_t)r[1] && (cp - (uint32_t)r[0]) % (uint32_t)r[2] == 0)
        return (uint32_t)((int32_t)cp + r[3]);
    return cp;
}

bool elm_uc_is_bert_punct(uint32_t c) {
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
    return elm_uc_is_punct(c);
}
