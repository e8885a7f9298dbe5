/*
 * spm_model.c — a minimal protobuf reader for SentencePiece's ModelProto.
 *
 * Field numbers (sentencepiece_model.proto):
 *   ModelProto      1 pieces (message, repeated), 2 trainer_spec, 3 normalizer_spec
 *   SentencePiece   1 piece (string), 2 score (float), 3 type (enum)
 *   TrainerSpec     3 model_type, 35 byte_fallback, 40 unk_id, 41 bos_id, 42 eos_id, 43 pad_id
 *   NormalizerSpec  1 name, 2 precompiled_charsmap, 3 add_dummy_prefix,
 *                   4 remove_extra_whitespaces, 5 escape_whitespaces
 */
#include "alloc.h"
#include "spm_model.h"

#include <stdlib.h>
#include <string.h>

typedef struct spm_reader {
    const uint8_t *p, *end;
} spm_reader;

typedef struct spm_field {
    uint32_t num;
    int wire;
    uint64_t v;            /* varint / fixed value */
    const uint8_t *bytes;  /* length-delimited payload */
    uint64_t len;
} spm_field;

static bool spm_varint(spm_reader *r, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return false;
        uint8_t b = *r->p++;
        if (shift == 63 && b > 1) return false; /* more than 64 bits */
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* Reads the next field; false on malformed or truncated input. */
static bool spm_next(spm_reader *r, spm_field *f) {
    uint64_t key;
    if (!spm_varint(r, &key)) return false;
    f->num = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    if (f->num == 0 || key >> 3 > 0x1FFFFFFF) return false;
    switch (f->wire) {
    case 0: return spm_varint(r, &f->v);
    case 1:
        if (r->end - r->p < 8) return false;
        f->v = 0;
        for (int k = 7; k >= 0; k--) f->v = (f->v << 8) | r->p[k];
        r->p += 8;
        return true;
    case 5:
        if (r->end - r->p < 4) return false;
        f->v = (uint64_t)r->p[0] | (uint64_t)r->p[1] << 8 | (uint64_t)r->p[2] << 16 | (uint64_t)r->p[3] << 24;
        r->p += 4;
        return true;
    case 2:
        if (!spm_varint(r, &f->len) || f->len > (uint64_t)(r->end - r->p)) return false;
        f->bytes = r->p;
        r->p += f->len;
        return true;
    default: return false; /* groups (3, 4) are not used by SentencePiece */
    }
}

static float spm_f32(uint64_t bits) {
    uint32_t u = (uint32_t)bits;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static gl_status spm_piece(const spm_field *outer, elm_spm_piece *pc, gl_error *err, int32_t idx) {
    spm_reader r = {outer->bytes, outer->bytes + outer->len};
    pc->text = "";
    pc->len = 0;
    pc->score = 0.0f;
    pc->type = ELM_SPM_NORMAL;
    spm_field f;
    while (r.p < r.end) {
        if (!spm_next(&r, &f)) return gl_error_set(err, GL_ERR_FORMAT, "tokenizer.model: malformed piece %d", idx);
        if (f.num == 1 && f.wire == 2) {
            if (f.len > 0xFFFF) return gl_error_set(err, GL_ERR_FORMAT, "tokenizer.model: piece %d too long", idx);
            pc->text = (const char *)f.bytes;
            pc->len = (uint32_t)f.len;
        } else if (f.num == 2 && f.wire == 5) {
            pc->score = spm_f32(f.v);
        } else if (f.num == 3 && f.wire == 0) {
            if (f.v < 1 || f.v > 6)
                return gl_error_set(err, GL_ERR_FORMAT, "tokenizer.model: piece %d has bad type %llu", idx,
                                    (unsigned long long)f.v);
            pc->type = (int)f.v;
        }
    }
    return GL_OK;
}

static int32_t spm_i32(uint64_t v) { return (int32_t)(uint32_t)v; } /* proto int32: sign-extended varint */

static gl_status spm_trainer(const spm_field *outer, elm_spm_model *m, gl_error *err) {
    spm_reader r = {outer->bytes, outer->bytes + outer->len};
    spm_field f;
    while (r.p < r.end) {
        if (!spm_next(&r, &f)) return gl_error_set(err, GL_ERR_FORMAT, "tokenizer.model: malformed trainer_spec");
        if (f.wire != 0) continue;
        switch (f.num) {
        case 3: m->model_type = (int)f.v; break;
        case 35: m->byte_fallback = f.v != 0; break;
        case 40: m->unk_id = spm_i32(f.v); break;
        case 41: m->bos_id = spm_i32(f.v); break;
        case 42: m->eos_id = spm_i32(f.v); break;
        case 43: m->pad_id = spm_i32(f.v); break;
        default: break;
        }
    }
    return GL_OK;
}

static gl_status spm_normalizer(const spm_field *outer, elm_spm_model *m, gl_error *err) {
    spm_reader r = {outer->bytes, outer->bytes + outer->len};
    spm_field f;
    while (r.p < r.end) {
        if (!spm_next(&r, &f)) return gl_error_set(err, GL_ERR_FORMAT, "tokenizer.model: malformed normalizer_spec");
        if (f.num == 1 && f.wire == 2) {
            size_t n = f.len < sizeof m->normalizer_name - 1 ? (size_t)f.len : sizeof m->normalizer_name - 1;
            memcpy(m->normalizer_name, f.bytes, n);
            m->normalizer_name[n] = '\0';
        } else if (f.num == 2 && f.wire == 2) {
            m->charsmap = f.bytes;
            m->charsmap_len = f.len;
        } else if (f.wire == 0 && f.num == 3) {
            m->add_dummy_prefix = f.v != 0;
        } else if (f.wire == 0 && f.num == 4) {
            m->remove_extra_whitespaces = f.v != 0;
        } else if (f.wire == 0 && f.num == 5) {
            m->escape_whitespaces = f.v != 0;
        }
    }
    return GL_OK;
}

gl_status elm_spm_parse(const void *data, size_t size, elm_spm_model *m, gl_error *err) {
    memset(m, 0, sizeof *m);
    m->model_type = ELM_SPM_UNIGRAM;
    m->unk_id = 0;
    m->bos_id = 1;
    m->eos_id = 2;
    m->pad_id = -1;
    m->add_dummy_prefix = true;
    m->remove_extra_whitespaces = true;
    m->escape_whitespaces = true;
    if (!data || size == 0) /* (NULL + 0 would be pointer arithmetic on NULL) */
        return gl_error_set(err, GL_ERR_FORMAT, "tokenizer.model: the file is empty");
    spm_reader r = {data, (const uint8_t *)data + size};
    spm_field f;
    int32_t cap = 0;
    gl_status s = GL_OK;
    while (r.p < r.end && s == GL_OK) {
        if (!spm_next(&r, &f)) {
            s = gl_error_set(err, GL_ERR_FORMAT,
                             "tokenizer.model: malformed protobuf at byte %zu (not a SentencePiece model?)",
                             (size_t)(r.p - (const uint8_t *)data));
            break;
        }
        if (f.wire != 2) continue;
        if (f.num == 1) {
            if (m->n_pieces == cap) {
                if (cap >= (1 << 24)) {
                    s = gl_error_set(err, GL_ERR_FORMAT, "tokenizer.model: too many pieces");
                    break;
                }
                int32_t ncap = cap ? cap * 2 : 1024;
                elm_spm_piece *np = ELM_REALLOC(m->pieces, (size_t)ncap * sizeof *np);
                if (!np) {
                    s = gl_error_set(err, GL_ERR_NOMEM, "out of memory");
                    break;
                }
                m->pieces = np;
                cap = ncap;
            }
            s = spm_piece(&f, &m->pieces[m->n_pieces], err, m->n_pieces);
            m->n_pieces++;
        } else if (f.num == 2) {
            s = spm_trainer(&f, m, err);
        } else if (f.num == 3) {
            s = spm_normalizer(&f, m, err);
        }
    }
    if (s == GL_OK && m->n_pieces == 0)
        s = gl_error_set(err, GL_ERR_FORMAT, "tokenizer.model: no pieces (not a SentencePiece model?)");
    if (s != GL_OK) elm_spm_free(m);
    return s;
}

void elm_spm_free(elm_spm_model *m) {
    if (!m) return;
    ELM_FREE(m->pieces);
    m->pieces = NULL;
    m->n_pieces = 0;
}
