/*
 * bh_json.h — a growable text buffer and a JSON string escaper, for plugins
 * that build their results by hand. Header-only: include it and go.
 *
 * Why it exists: the core refuses result text that is not UTF-8 and
 * structured content that is not valid JSON, while a plugin's own data
 * (files, databases, other people's input) is not always clean. So every
 * byte that comes from data goes through bhj_string (into JSON) or bhj_text
 * (into a text block), and both repair invalid UTF-8 as U+FFFD instead of
 * failing the whole call.
 *
 * Out of memory is sticky: after the first failed allocation every append is
 * a no-op and `failed` stays set, so a builder checks once, at the end.
 * The buffer is always NUL-terminated when ptr is non-NULL.
 *
 *     bhj_buf b = {0};
 *     bhj_puts(&b, "{\"title\":");
 *     bhj_string(&b, title, title_len);
 *     bhj_printf(&b, ",\"version\":%d}", version);
 *     if (b.failed) ...out of memory...
 *     host->result_json(call, b.ptr, b.len);
 *     bhj_free(&b);
 */
#ifndef BH_JSON_H
#define BH_JSON_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define BHJ_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define BHJ_PRINTF(f, a)
#endif

typedef struct bhj_buf {
    char *ptr;
    size_t len;
    size_t cap;
    int failed;
} bhj_buf;

/* Makes room for `extra` more bytes plus the NUL; 0 once out of memory. */
static inline int bhj_reserve(bhj_buf *b, size_t extra)
{
    if (b->failed)
        return 0;
    if (b->cap > b->len && extra < b->cap - b->len)
        return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len <= extra) {
        if (cap > SIZE_MAX / 2) {
            b->failed = 1;
            return 0;
        }
        cap *= 2;
    }
    char *p = realloc(b->ptr, cap);
    if (!p) {
        b->failed = 1;
        return 0;
    }
    b->ptr = p;
    b->cap = cap;
    return 1;
}

static inline void bhj_append(bhj_buf *b, const char *s, size_t n)
{
    if (!bhj_reserve(b, n))
        return;
    memcpy(b->ptr + b->len, s, n);
    b->len += n;
    b->ptr[b->len] = '\0';
}

static inline void bhj_puts(bhj_buf *b, const char *s) { bhj_append(b, s, strlen(s)); }

static inline void bhj_putc(bhj_buf *b, char c) { bhj_append(b, &c, 1); }

BHJ_PRINTF(2, 3)
static inline void bhj_printf(bhj_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !bhj_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static inline void bhj_free(bhj_buf *b)
{
    free(b->ptr);
    *b = (bhj_buf){0};
}

/*
 * Length (1..4) of the well-formed UTF-8 sequence at s, or 0 when the bytes
 * there are not one (overlong forms, surrogates and values past U+10FFFF
 * count as malformed, as RFC 3629 says).
 */
static inline size_t bhj_utf8_seq(const unsigned char *s, size_t n)
{
    if (n == 0)
        return 0;
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t need;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < need || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return need;
}

/* The longest prefix of s, at most `max` bytes, that does not split a character. */
static inline size_t bhj_utf8_prefix(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    size_t i = max;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
        i--;
    return i;
}

/* Appends s as plain text (for result_text), invalid UTF-8 replaced by U+FFFD. */
static inline void bhj_text(bhj_buf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0; /* start of the current stretch of valid bytes */
    for (size_t i = 0; i < n;) {
        size_t k = bhj_utf8_seq(u + i, n - i);
        if (k) {
            i += k;
            continue;
        }
        bhj_append(b, s + run, i - run);
        bhj_append(b, "\xEF\xBF\xBD", 3);
        run = ++i;
    }
    bhj_append(b, s + run, n - run);
}

/* Appends s as one JSON string literal, quotes included. */
static inline void bhj_string(bhj_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0;
    bhj_putc(b, '"');
    for (size_t i = 0; i < n;) {
        size_t k = bhj_utf8_seq(u + i, n - i);
        if (k > 1 || (k == 1 && u[i] >= 0x20 && u[i] != '"' && u[i] != '\\')) {
            i += k; /* copied later, as part of the run */
            continue;
        }
        bhj_append(b, s + run, i - run);
        char esc[7] = {'\\', 'u', '0', '0', hex[u[i] >> 4], hex[u[i] & 15], 0};
        switch (k ? u[i] : 0x100) {
        case '"':  bhj_puts(b, "\\\""); break;
        case '\\': bhj_puts(b, "\\\\"); break;
        case '\n': bhj_puts(b, "\\n"); break;
        case '\r': bhj_puts(b, "\\r"); break;
        case '\t': bhj_puts(b, "\\t"); break;
        case 0x100: bhj_puts(b, "\\ufffd"); break; /* not UTF-8 */
        default:   bhj_puts(b, esc); break;        /* other control characters */
        }
        run = ++i;
    }
    bhj_append(b, s + run, n - run);
    bhj_putc(b, '"');
}

/* bhj_string for a NUL-terminated string; NULL becomes JSON null. */
static inline void bhj_cstring(bhj_buf *b, const char *s)
{
    if (s)
        bhj_string(b, s, strlen(s));
    else
        bhj_puts(b, "null");
}

#endif /* BH_JSON_H */
