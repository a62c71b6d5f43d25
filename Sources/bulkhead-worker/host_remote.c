/*
 * host_remote.c — bh_host_api over the channel. The core judges every
 * request with the very functions an in-process plugin calls, so statuses,
 * limits and last_error texts are the same in both tiers; what is done here
 * is only what cannot cross a socket: pointers (NULL checks, a tool
 * function, a dir_list callback), sizes no frame can carry, and the lifetime
 * of the memory lent to the plugin.
 */
#include "host_remote.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls.h"
#include "runner.h"

/* ---- last_error -------------------------------------------------------- */

/*
 * Inline, so a thread the plugin started leaves nothing to free when it ends.
 * The core cuts its texts to 511 bytes; this has room for them whole.
 */
static _Thread_local struct {
    size_t len;
    char text[1024];
} last_err;

/* The longest prefix of `p` within `max` bytes that does not end inside a UTF-8 character (len > max). */
static size_t utf8_cut(const char *p, size_t max)
{
    size_t n = max;
    while (n > 0 && ((unsigned char)p[n] & 0xC0) == 0x80)
        n--;
    return n;
}

static void set_last_error(const char *p, size_t n)
{
    if (n >= sizeof last_err.text)
        n = utf8_cut(p, sizeof last_err.text - 1);
    memcpy(last_err.text, p, n);
    last_err.text[n] = 0;
    last_err.len = n;
}

/* For refusals made here, worded as the core words its own. */
__attribute__((format(printf, 1, 2))) static void local_error(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    set_last_error(buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* ---- requests and replies ---------------------------------------------- */

struct waiter {
    uint64_t seq;
    uint16_t op;
    bool done;
    pthread_cond_t cv;
    unsigned char *payload;
    size_t len;
    int fd;
    struct waiter *next;
};

static pthread_mutex_t wait_mu = PTHREAD_MUTEX_INITIALIZER;
static struct waiter *waiting;
static atomic_uint_fast64_t next_seq = 1;

void bhw_remote_deliver(struct bhw_frame *f)
{
    pthread_mutex_lock(&wait_mu);
    struct waiter **p = &waiting;
    while (*p && (*p)->seq != f->seq)
        p = &(*p)->next;
    struct waiter *w = *p;
    if (!w)
        bhw_protocol_error("a BHW_REPLY whose seq no request is waiting for");
    *p = w->next;

    w->payload = f->payload;
    w->len = f->len;
    f->payload = NULL;
    w->fd = -1;
    struct bhw_in in;
    uint32_t status;
    bhw_in_init(&in, w->payload, w->len);
    /* Taken here, in stream order, so that each descriptor meets its own reply. */
    if (w->op == BHW_FILE_OPEN && bhw_get_u32(&in, &status) && status == (uint32_t)BH_OK) {
        w->fd = bhw_take_fd();
        if (w->fd < 0)
            bhw_protocol_error("a successful BHW_FILE_OPEN reply came without its descriptor");
    }
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&wait_mu);
}

struct reply {
    unsigned char *payload;
    size_t len;
    struct bhw_in in;
    bh_status status;
    int fd;
};

/* Sends one request and blocks this thread until its reply is in; takes the reply's status. */
static void request(uint16_t op, uint64_t call, const struct bhw_out *o, struct reply *r)
{
    struct waiter w = {.op = op, .fd = -1};
    w.seq = atomic_fetch_add(&next_seq, 1);
    pthread_cond_init(&w.cv, NULL);
    /* Waiting before the request leaves: the reply may be read before bhw_send returns. */
    pthread_mutex_lock(&wait_mu);
    w.next = waiting;
    waiting = &w;
    pthread_mutex_unlock(&wait_mu);

    bhw_send(op, call, w.seq, o);

    pthread_mutex_lock(&wait_mu);
    while (!w.done)
        pthread_cond_wait(&w.cv, &wait_mu);
    pthread_mutex_unlock(&wait_mu);
    pthread_cond_destroy(&w.cv);

    r->payload = w.payload;
    r->len = w.len;
    r->fd = w.fd;
    bhw_in_init(&r->in, r->payload, r->len);
    uint32_t status;
    if (!bhw_get_u32(&r->in, &status))
        bhw_protocol_error("a BHW_REPLY without a status");
    r->status = (bh_status)(int32_t)status;
}

static _Noreturn void malformed_reply(void)
{
    bhw_protocol_error("a BHW_REPLY whose fields do not match its request");
}

static uint32_t take_u32(struct reply *r)
{
    uint32_t v;
    if (!bhw_get_u32(&r->in, &v))
        malformed_reply();
    return v;
}

static uint64_t take_u64(struct reply *r)
{
    uint64_t v;
    if (!bhw_get_u64(&r->in, &v))
        malformed_reply();
    return v;
}

static int64_t take_i64(struct reply *r)
{
    int64_t v;
    if (!bhw_get_i64(&r->in, &v))
        malformed_reply();
    return v;
}

static bh_bytes take_bytes(struct reply *r)
{
    bh_bytes b;
    if (!bhw_get_bytes(&r->in, &b.ptr, &b.len))
        malformed_reply();
    return b;
}

/* The last field of every reply; it must end the payload. */
static void finish(struct reply *r)
{
    bh_bytes e = take_bytes(r);
    if (!bhw_at_end(&r->in))
        malformed_reply();
    /* Only a text replaces the last one: a success never clears it (see last_error in bulkhead.h). */
    if (e.len)
        set_last_error(e.ptr, e.len);
}

static void release(struct reply *r)
{
    free(r->payload);
    r->payload = NULL;
}

/*
 * Borrowed bytes end in a NUL, as the core's do in-process, for careless C.
 * Called once every field is read: the byte after a value belongs to the
 * next field's length, or is the NUL after the payload.
 */
static void terminate(bh_bytes b)
{
    ((char *)b.ptr)[b.len] = 0;
}

/* Whether a payload of `fixed` bytes plus byte fields of these lengths fits one frame. */
static bool fits(size_t fixed, size_t a, size_t b, size_t c, size_t d)
{
    size_t lens[4] = {a, b, c, d};
    size_t total = fixed;
    for (int i = 0; i < 4; i++) {
        if (lens[i] > BHW_MAX_PAYLOAD - total)
            return false;
        total += lens[i];
    }
    return bhw_fits(total);
}

/* ---- caches: plugin-wide borrowed bytes, kept until exit --------------- */

enum cache_kind { CACHE_CONFIG, CACHE_ROOT };

struct cached {
    enum cache_kind kind;
    uint64_t plugin; /* in the key too: a forged plugin token must still reach the core and be refused */
    uint64_t root;
    char *key;
    size_t key_len;
    bh_bytes value;
    struct cached *next;
};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cached *cache;

static struct cached *cache_find_locked(enum cache_kind kind, uint64_t plugin, uint64_t root, const char *key,
                                        size_t key_len)
{
    for (struct cached *c = cache; c; c = c->next)
        if (c->kind == kind && c->plugin == plugin && c->root == root && c->key_len == key_len &&
            (key_len == 0 || memcmp(c->key, key, key_len) == 0))
            return c;
    return NULL;
}

static bool cache_find(enum cache_kind kind, uint64_t plugin, uint64_t root, const char *key, size_t key_len,
                       bh_bytes *out)
{
    pthread_mutex_lock(&cache_mu);
    struct cached *c = cache_find_locked(kind, plugin, root, key, key_len);
    if (c)
        *out = c->value;
    pthread_mutex_unlock(&cache_mu);
    return c != NULL;
}

static char *copy_z(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        bhw_fatal("out of memory for a borrowed value");
    if (n)
        memcpy(s, p, n);
    s[n] = 0;
    return s;
}

/* Returns the value kept: the first one in, when two threads asked at once. */
static bh_bytes cache_add(enum cache_kind kind, uint64_t plugin, uint64_t root, const char *key, size_t key_len,
                          bh_bytes value)
{
    pthread_mutex_lock(&cache_mu);
    struct cached *c = cache_find_locked(kind, plugin, root, key, key_len);
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c)
            bhw_fatal("out of memory for a borrowed value");
        c->kind = kind;
        c->plugin = plugin;
        c->root = root;
        c->key = copy_z(key, key_len);
        c->key_len = key_len;
        c->value.ptr = copy_z(value.ptr, value.len);
        c->value.len = value.len;
        c->next = cache;
        cache = c;
    }
    bh_bytes kept = c->value;
    pthread_mutex_unlock(&cache_mu);
    return kept;
}

/* ---- registration and plugin-wide functions ---------------------------- */

/* A plugin-wide request of the plugin's token and one bytes field, answered by its status alone. */
static bh_status plugin_bytes_request(uint16_t op, bh_plugin plugin, const char *bytes, size_t len)
{
    struct bhw_out o;
    bhw_out_init(&o);
    bhw_put_u64(&o, plugin.token);
    bhw_put_bytes(&o, bytes, len);
    struct reply r;
    request(op, bhw_calls_current(), &o, &r);
    finish(&r);
    bh_status st = r.status;
    release(&r);
    return st;
}

static bh_status h_register_tool(bh_plugin plugin, const char *name, size_t name_len, bh_tool_fn fn,
                                 void *user_data)
{
    /* The function pointer never leaves this process, so only here can a NULL one be refused. */
    if (!fn || (!name && name_len) || !fits(8 + 4, name_len, 0, 0, 0))
        return BH_E_INVALID;
    bh_status st = plugin_bytes_request(BHW_REGISTER, plugin, name, name_len);
    /* The core keeps the books (inside init? twice?); only what it accepted can be called. */
    if (st == BH_OK)
        bhw_runner_add_tool(name, name_len, fn, user_data);
    return st;
}

/* Resources, prompts and the resource list are registered like tools, under a
 * key no tool name can be: a control byte, then the URI or name (see
 * bh_worker_protocol.h, BHW_REGISTER). */
static bh_status register_keyed(bh_plugin plugin, char prefix, const char *name, size_t name_len, bh_tool_fn fn,
                                void *user_data)
{
    if (!fn || (!name && name_len) || name_len > BHW_MAX_PAYLOAD - 64)
        return BH_E_INVALID;
    char *key = malloc(name_len + 1);
    if (!key)
        return BH_E_IO;
    key[0] = prefix;
    if (name_len)
        memcpy(key + 1, name, name_len);
    bh_status st = h_register_tool(plugin, key, name_len + 1, fn, user_data);
    free(key);
    return st;
}

static bh_status h_register_resource(bh_plugin plugin, const char *uri, size_t uri_len, bh_tool_fn fn, void *user_data)
{
    if (uri_len == 0)
        return BH_E_INVALID;
    return register_keyed(plugin, '\x01', uri, uri_len, fn, user_data);
}

static bh_status h_register_prompt(bh_plugin plugin, const char *name, size_t name_len, bh_tool_fn fn, void *user_data)
{
    if (name_len == 0)
        return BH_E_INVALID;
    return register_keyed(plugin, '\x02', name, name_len, fn, user_data);
}

static bh_status h_register_resource_list(bh_plugin plugin, bh_tool_fn fn, void *user_data)
{
    return register_keyed(plugin, '\x03', "list", 4, fn, user_data);
}

static bh_status h_resource_changed(bh_plugin plugin, const char *uri, size_t uri_len)
{
    if ((!uri && uri_len) || !fits(8 + 4, uri_len, 0, 0, 0))
        return BH_E_INVALID;
    return plugin_bytes_request(BHW_RESOURCE_CHANGED, plugin, uri, uri_len);
}

static bh_status h_register_completion(bh_plugin plugin, const char *ref, size_t ref_len, bh_tool_fn fn, void *user_data)
{
    if (ref_len == 0)
        return BH_E_INVALID;
    return register_keyed(plugin, '\x04', ref, ref_len, fn, user_data);
}

/* The core cuts a plugin's line to 4096 bytes once escaped, and says how long it
 * was: lines up to 1 MiB cross whole so that the count is right; longer ones are
 * cut here first (they are counted as 1 MiB). */
#define BHW_LOG_MAX (1024u * 1024u)

static void h_log(bh_plugin plugin, bh_log_level level, const char *message, size_t message_len)
{
    if (!message)
        message_len = 0; /* in-process logs an empty line for it */
    if (message_len > BHW_LOG_MAX)
        message_len = utf8_cut(message, BHW_LOG_MAX);
    struct bhw_out o;
    bhw_out_init(&o);
    bhw_put_u64(&o, plugin.token);
    bhw_put_u32(&o, (uint32_t)level);
    bhw_put_bytes(&o, message, message_len);
    bhw_send(BHW_LOG, bhw_calls_current(), 0, &o);
}

static bh_status h_config(bh_plugin plugin, const char *key, size_t key_len, bh_bytes *out)
{
    if (!out || (!key && key_len))
        return BH_E_INVALID;
    if (cache_find(CACHE_CONFIG, plugin.token, 0, key, key_len, out))
        return BH_OK;
    if (!fits(8 + 4, key_len, 0, 0, 0))
        return BH_E_NOT_FOUND; /* no operator writes a key that long */
    struct bhw_out o;
    bhw_out_init(&o);
    bhw_put_u64(&o, plugin.token);
    bhw_put_bytes(&o, key, key_len);
    struct reply r;
    request(BHW_CONFIG, bhw_calls_current(), &o, &r);
    bh_bytes value = {0};
    if (r.status == BH_OK)
        value = take_bytes(&r);
    finish(&r);
    bh_status st = r.status;
    if (st == BH_OK)
        *out = cache_add(CACHE_CONFIG, plugin.token, 0, key, key_len, value);
    release(&r);
    return st;
}

/* ---- per call: arguments, context, results ----------------------------- */

/*
 * Arguments, arg_string, arg_json, core_status: the value is lent out of the
 * reply itself, which the call's arena keeps until the tool function returns.
 */
static bh_status lent_request(uint16_t op, bh_call call, bool keyed, const char *key, size_t key_len, bh_bytes *out)
{
    if (!out || (!key && key_len))
        return BH_E_INVALID;
    if (keyed && !fits(4, key_len, 0, 0, 0))
        return BH_E_NOT_FOUND;
    struct bhw_call_ref ref;
    if (!bhw_calls_use(call.token, &ref))
        return BH_E_STALE;
    struct bhw_arg a;
    if (keyed && bhw_args_find(ref.call, key, key_len, &a)) {
        /* Answered from the table the call came with: no round trip. */
        bh_status st = (bh_status)(int32_t)(op == BHW_ARG_STRING ? a.string_status : a.json_status);
        if (st == BH_OK)
            *out = op == BHW_ARG_STRING ? (bh_bytes){a.string, a.string_len} : (bh_bytes){a.json, a.json_len};
        bhw_calls_unuse(&ref);
        return st;
    }
    struct bhw_out o;
    bhw_out_init(&o);
    if (keyed)
        bhw_put_bytes(&o, key, key_len);
    struct reply r;
    request(op, call.token, &o, &r);
    bh_bytes value = {0};
    if (r.status == BH_OK)
        value = take_bytes(&r);
    finish(&r);
    bh_status st = r.status;
    if (st == BH_OK && ref.call) {
        terminate(value);
        bhw_calls_lend(ref.call, r.payload);
        *out = value;
    } else {
        /* A call this worker does not know has no arena: the core said STALE, or should have. */
        if (st == BH_OK)
            st = BH_E_STALE;
        release(&r);
    }
    bhw_calls_unuse(&ref);
    return st;
}

static bh_status h_arguments(bh_call call, bh_bytes *out)
{
    return lent_request(BHW_ARGUMENTS, call, false, NULL, 0, out);
}

static bh_status h_arg_string(bh_call call, const char *key, size_t key_len, bh_bytes *out)
{
    return lent_request(BHW_ARG_STRING, call, true, key, key_len, out);
}

static bh_status h_arg_json(bh_call call, const char *key, size_t key_len, bh_bytes *out)
{
    return lent_request(BHW_ARG_JSON, call, true, key, key_len, out);
}

static bh_status h_core_status(bh_call call, bh_bytes *out)
{
    return lent_request(BHW_CORE_STATUS, call, false, NULL, 0, out);
}

/* arg_int, arg_double, arg_bool: a value of 64 bits (`wide`) or 32. */
static bh_status scalar_request(uint16_t op, bh_call call, const char *key, size_t key_len, bool wide, uint64_t *v)
{
    if (!key && key_len)
        return BH_E_INVALID;
    if (!fits(4, key_len, 0, 0, 0))
        return BH_E_NOT_FOUND;
    struct bhw_call_ref ref;
    if (!bhw_calls_use(call.token, &ref))
        return BH_E_STALE;
    struct bhw_arg a;
    if (bhw_args_find(ref.call, key, key_len, &a)) {
        uint32_t st = op == BHW_ARG_INT ? a.int_status : op == BHW_ARG_DOUBLE ? a.double_status : a.bool_status;
        if (st == (uint32_t)BH_OK)
            *v = op == BHW_ARG_INT ? (uint64_t)a.int_value : op == BHW_ARG_DOUBLE ? a.double_bits : a.bool_value;
        bhw_calls_unuse(&ref);
        return (bh_status)(int32_t)st;
    }
    struct bhw_out o;
    bhw_out_init(&o);
    bhw_put_bytes(&o, key, key_len);
    struct reply r;
    request(op, call.token, &o, &r);
    if (r.status == BH_OK)
        *v = wide ? take_u64(&r) : take_u32(&r);
    finish(&r);
    release(&r);
    bhw_calls_unuse(&ref);
    return r.status;
}

static bh_status h_arg_int(bh_call call, const char *key, size_t key_len, int64_t *out)
{
    uint64_t v = 0;
    if (!out)
        return BH_E_INVALID;
    bh_status st = scalar_request(BHW_ARG_INT, call, key, key_len, true, &v);
    if (st == BH_OK)
        *out = (int64_t)v;
    return st;
}

static bh_status h_arg_double(bh_call call, const char *key, size_t key_len, double *out)
{
    uint64_t v = 0;
    if (!out)
        return BH_E_INVALID;
    bh_status st = scalar_request(BHW_ARG_DOUBLE, call, key, key_len, true, &v);
    if (st == BH_OK)
        memcpy(out, &v, sizeof *out);
    return st;
}

static bh_status h_arg_bool(bh_call call, const char *key, size_t key_len, int *out)
{
    uint64_t v = 0;
    if (!out)
        return BH_E_INVALID;
    bh_status st = scalar_request(BHW_ARG_BOOL, call, key, key_len, false, &v);
    if (st == BH_OK)
        *out = v != 0;
    return st;
}

static bh_status h_caller(bh_call call, bh_caller *out)
{
    if (!out)
        return BH_E_INVALID;
    struct bhw_call_ref ref;
    if (!bhw_calls_use(call.token, &ref))
        return BH_E_STALE;
    struct bhw_out o;
    bhw_out_init(&o);
    bhw_put_u32(&o, out->struct_size); /* the core judges it */
    struct reply r;
    request(BHW_CALLER, call.token, &o, &r);
    bh_bytes principal = {0}, tenant = {0}, scopes = {0};
    if (r.status == BH_OK) {
        principal = take_bytes(&r);
        tenant = take_bytes(&r);
        scopes = take_bytes(&r);
    }
    finish(&r);
    bh_status st = r.status;
    if (st == BH_OK && ref.call) {
        terminate(principal);
        terminate(tenant);
        terminate(scopes);
        bhw_calls_lend(ref.call, r.payload);
        /* Never past the plugin's struct_size: its struct may be older and smaller. */
        if (BH_HAS_FIELD(out, bh_caller, principal))
            out->principal = principal;
        if (BH_HAS_FIELD(out, bh_caller, tenant))
            out->tenant = tenant;
        if (BH_HAS_FIELD(out, bh_caller, scopes))
            out->scopes = scopes;
    } else {
        if (st == BH_OK)
            st = BH_E_STALE;
        release(&r);
    }
    bhw_calls_unuse(&ref);
    return st;
}

static int64_t h_remaining_ms(bh_call call)
{
    return bhw_calls_remaining_ms(call.token);
}

static int h_is_cancelled(bh_call call)
{
    return bhw_calls_is_cancelled(call.token);
}

/* A per-call request answered by its status alone: the call is held in use
 * while it runs, and the reply's error text becomes last_error. */
static bh_status status_request(uint16_t op, bh_call call, const struct bhw_out *o)
{
    struct bhw_call_ref ref;
    if (!bhw_calls_use(call.token, &ref))
        return BH_E_STALE;
    struct reply r;
    request(op, call.token, o, &r);
    finish(&r);
    bh_status st = r.status;
    release(&r);
    bhw_calls_unuse(&ref);
    return st;
}

/*
 * A result no frame carries (it would take the payload past BHW_MAX_FRAME):
 * the core must still hear of it, since a result refused as too large makes
 * the whole call answer too_large. The caller holds the call in use.
 */
static bh_status oversize_request(bh_call call, uint32_t op, size_t len)
{
    struct bhw_out o;
    bhw_out_init(&o);
    bhw_put_u32(&o, op);
    bhw_put_u64(&o, (uint64_t)len);
    struct reply r;
    request(BHW_RESULT_OVERSIZE, call.token, &o, &r);
    finish(&r);
    bh_status st = r.status == BH_OK ? BH_E_TOO_LARGE : r.status;
    release(&r);
    return st;
}

static bh_status result_request(uint16_t op, const char *fn, bh_call call, const char *text, size_t text_len)
{
    struct bhw_call_ref ref;
    if (!bhw_calls_use(call.token, &ref))
        return BH_E_STALE;
    struct bhw_out o;
    bhw_out_init(&o);
    struct reply r;
    bh_status st;
    if (!fits(4, text_len, 0, 0, 0)) {
        st = oversize_request(call, op, text_len);
    } else if (!text && text_len) {
        local_error("%s: the text is NULL with a length of %zu", fn, text_len);
        st = BH_E_INVALID;
    } else {
        bhw_put_bytes(&o, text, text_len);
        request(op, call.token, &o, &r);
        finish(&r);
        st = r.status;
        release(&r);
    }
    bhw_calls_unuse(&ref);
    return st;
}

static bh_status h_result_text(bh_call call, const char *text, size_t text_len)
{
    return result_request(BHW_RESULT_TEXT, "result_text", call, text, text_len);
}

static bh_status h_result_json(bh_call call, const char *json, size_t json_len)
{
    return result_request(BHW_RESULT_JSON, "result_json", call, json, json_len);
}

static bh_status h_result_error(bh_call call, bh_error_kind kind, const char *message, size_t message_len)
{
    if (!message && message_len)
        return BH_E_INVALID;
    /* A message for a human past 65 MiB loses its end rather than the whole error. */
    if (!fits(4 + 4, message_len, 0, 0, 0))
        message_len = utf8_cut(message, BHW_MAX_PAYLOAD - 8);
    struct bhw_out o;
    bhw_out_init(&o);
    bhw_put_u32(&o, (uint32_t)kind);
    bhw_put_bytes(&o, message, message_len);
    return status_request(BHW_RESULT_ERROR, call, &o);
}

/* ---- ABI 1.1 results: resources, messages, provenance ------------------ */

static bool bytes_ok(bh_bytes b)
{
    return b.ptr || !b.len;
}

static bh_status h_result_resource(bh_call call, const bh_resource_content *c)
{
    if (!c || c->struct_size < sizeof(bh_resource_content)) {
        local_error("result_resource: struct_size must be at least sizeof(bh_resource_content) (%zu)",
                    sizeof(bh_resource_content));
        return BH_E_INVALID;
    }
    if (!bytes_ok(c->uri) || !bytes_ok(c->mime_type) || !bytes_ok(c->data) || !bytes_ok(c->version) ||
        !bytes_ok(c->title)) {
        local_error("result_resource: a NULL field with a non-zero length");
        return BH_E_INVALID;
    }
    struct bhw_call_ref ref;
    if (!bhw_calls_use(call.token, &ref))
        return BH_E_STALE;
    struct bhw_out o;
    bhw_out_init(&o);
    struct reply r;
    bh_status st;
    size_t data_len = (c->flags & BH_RESOURCE_LINK) ? 0 : c->data.len;
    if (!fits(4 + 8 + 6 * 4, c->uri.len + c->mime_type.len + c->version.len + c->title.len, data_len, 0, 0)) {
        st = oversize_request(call, BHW_RESULT_TEXT, data_len);
    } else {
        bhw_put_u32(&o, c->flags);
        bhw_put_bytes(&o, c->uri.ptr, c->uri.len);
        bhw_put_bytes(&o, c->mime_type.ptr, c->mime_type.len);
        bhw_put_bytes(&o, c->data.ptr, data_len);
        bhw_put_bytes(&o, c->version.ptr, c->version.len);
        bhw_put_i64(&o, c->modified_ms);
        bhw_put_bytes(&o, c->title.ptr, c->title.len);
        request(BHW_RESULT_RESOURCE, call.token, &o, &r);
        finish(&r);
        st = r.status;
        release(&r);
    }
    bhw_calls_unuse(&ref);
    return st;
}

static bh_status h_result_message(bh_call call, bh_role role, const char *text, size_t text_len)
{
    if (!text && text_len)
        return BH_E_INVALID;
    if (!fits(4 + 4, text_len, 0, 0, 0)) {
        struct bhw_call_ref ref;
        if (!bhw_calls_use(call.token, &ref))
            return BH_E_STALE;
        bh_status st = oversize_request(call, BHW_RESULT_TEXT, text_len);
        bhw_calls_unuse(&ref);
        return st;
    }
    struct bhw_out o;
    bhw_out_init(&o);
    bhw_put_u32(&o, (uint32_t)role);
    bhw_put_bytes(&o, text, text_len);
    return status_request(BHW_RESULT_MESSAGE, call, &o);
}

static bh_status h_result_media(bh_call call, const char *mime, size_t mime_len, const void *data, size_t data_len)
{
    if ((!mime && mime_len) || (!data && data_len))
        return BH_E_INVALID;
    if (!fits(2 * 4, mime_len, data_len, 0, 0)) {
        struct bhw_call_ref ref;
        if (!bhw_calls_use(call.token, &ref))
            return BH_E_STALE;
        bh_status st = oversize_request(call, BHW_RESULT_TEXT, data_len);
        bhw_calls_unuse(&ref);
        return st;
    }
    struct bhw_out o;
    bhw_out_init(&o);
    bhw_put_bytes(&o, mime, mime_len);
    bhw_put_bytes(&o, data, data_len);
    return status_request(BHW_RESULT_MEDIA, call, &o);
}

static bh_status h_add_source(bh_call call, const bh_source *src)
{
    if (!src || src->struct_size < sizeof(bh_source) || !bytes_ok(src->uri) || !bytes_ok(src->title) ||
        !bytes_ok(src->version) || !fits(3 * 4 + 8, src->uri.len, src->title.len, src->version.len, 0))
        return BH_E_INVALID;
    struct bhw_out o;
    bhw_out_init(&o);
    bhw_put_bytes(&o, src->uri.ptr, src->uri.len);
    bhw_put_bytes(&o, src->title.ptr, src->title.len);
    bhw_put_bytes(&o, src->version.ptr, src->version.len);
    bhw_put_i64(&o, src->modified_ms);
    return status_request(BHW_ADD_SOURCE, call, &o);
}

static bh_status h_report_excluded(bh_call call, bh_exclusion kind, uint64_t count, const char *why, size_t why_len)
{
    if (!why && why_len)
        return BH_E_INVALID;
    if (why_len > 4096)
        why_len = utf8_cut(why, 4096); /* the core keeps 500 bytes */
    struct bhw_out o;
    bhw_out_init(&o);
    bhw_put_u32(&o, (uint32_t)kind);
    bhw_put_u64(&o, count);
    bhw_put_bytes(&o, why, why_len);
    return status_request(BHW_REPORT_EXCLUDED, call, &o);
}

/* ---- capabilities ------------------------------------------------------ */

static bh_status h_capability(bh_plugin plugin, const char *name, size_t name_len, bh_cap *out)
{
    if (!out || (!name && name_len)) {
        local_error("capability: a NULL out or a name that is not UTF-8");
        return BH_E_INVALID;
    }
    if (!fits(8 + 4, name_len, 0, 0, 0)) {
        local_error("capability: a name of %zu bytes is not requested in manifest.toml", name_len);
        return BH_E_NOT_FOUND;
    }
    struct bhw_out o;
    bhw_out_init(&o);
    bhw_put_u64(&o, plugin.token);
    bhw_put_bytes(&o, name, name_len);
    struct reply r;
    request(BHW_CAPABILITY, bhw_calls_current(), &o, &r);
    uint64_t token = 0;
    if (r.status == BH_OK)
        token = take_u64(&r);
    finish(&r);
    release(&r);
    if (r.status == BH_OK)
        out->token = token;
    return r.status;
}

/* What the file functions refuse before asking: paths no frame carries, or NULL ones. */
static bool path_refused(const char *op, const char *path, size_t path_len, size_t fixed, bh_status *st)
{
    if (!path && path_len) {
        local_error("%s: the path is NULL or not UTF-8", op);
        *st = BH_E_INVALID;
        return true;
    }
    if (!fits(fixed, path_len, 0, 0, 0)) {
        local_error("%s: the path is %zu bytes; the longest accepted is 4095", op, path_len);
        *st = BH_E_INVALID;
        return true;
    }
    return false;
}

static void put_root_path(struct bhw_out *o, bh_plugin plugin, bh_cap root, const char *path, size_t path_len)
{
    bhw_out_init(o);
    bhw_put_u64(o, plugin.token);
    bhw_put_u64(o, root.token);
    bhw_put_bytes(o, path, path_len);
}

static bh_status h_file_open(bh_plugin plugin, bh_cap root, const char *path, size_t path_len, uint32_t flags,
                             int *fd_out)
{
    bh_status st;
    if (!fd_out) {
        local_error("file_open: fd_out is NULL");
        return BH_E_INVALID;
    }
    if (path_refused("open", path, path_len, 8 + 8 + 4 + 4, &st))
        return st;
    struct bhw_out o;
    put_root_path(&o, plugin, root, path, path_len);
    bhw_put_u32(&o, flags);
    struct reply r;
    request(BHW_FILE_OPEN, bhw_calls_current(), &o, &r);
    finish(&r);
    release(&r);
    if (r.status == BH_OK)
        *fd_out = r.fd;
    return r.status;
}

static bh_status h_file_stat(bh_plugin plugin, bh_cap root, const char *path, size_t path_len, bh_file_info *out)
{
    bh_status st;
    if (!out) {
        local_error("file_stat: out is NULL or its struct_size is too small");
        return BH_E_INVALID;
    }
    if (path_refused("stat", path, path_len, 8 + 8 + 4 + 4, &st))
        return st;
    struct bhw_out o;
    put_root_path(&o, plugin, root, path, path_len);
    bhw_put_u32(&o, out->struct_size);
    struct reply r;
    request(BHW_FILE_STAT, bhw_calls_current(), &o, &r);
    uint32_t type = 0;
    uint64_t size = 0;
    int64_t mtime = 0;
    if (r.status == BH_OK) {
        type = take_u32(&r);
        size = take_u64(&r);
        mtime = take_i64(&r);
    }
    finish(&r);
    release(&r);
    if (r.status == BH_OK) {
        if (BH_HAS_FIELD(out, bh_file_info, type))
            out->type = type;
        if (BH_HAS_FIELD(out, bh_file_info, name))
            out->name = (bh_bytes){NULL, 0};
        if (BH_HAS_FIELD(out, bh_file_info, size))
            out->size = size;
        if (BH_HAS_FIELD(out, bh_file_info, mtime_ns))
            out->mtime_ns = mtime;
    }
    return r.status;
}

/* The smallest entry on the wire: u32 type, an empty name, u64 size, i64 mtime_ns. */
#define BHW_DIR_ENTRY_MIN (4u + 4u + 8u + 8u)

static bh_status h_dir_list(bh_plugin plugin, bh_cap root, const char *path, size_t path_len, bh_dir_entry_fn fn,
                            void *user_data)
{
    bh_status st;
    if (!fn) {
        local_error("dir_list: fn is NULL");
        return BH_E_INVALID;
    }
    if (path_refused("list", path, path_len, 8 + 8 + 4, &st))
        return st;
    struct bhw_out o;
    put_root_path(&o, plugin, root, path, path_len);
    struct reply r;
    request(BHW_DIR_LIST, bhw_calls_current(), &o, &r);
    bh_file_info *entries = NULL;
    uint32_t count = 0;
    if (r.status == BH_OK) {
        count = take_u32(&r);
        if (count > (r.len - r.in.at) / BHW_DIR_ENTRY_MIN)
            malformed_reply();
        entries = count ? calloc(count, sizeof *entries) : NULL;
        if (count && !entries)
            bhw_fatal("out of memory for a directory listing");
        for (uint32_t i = 0; i < count; i++) {
            entries[i].struct_size = sizeof entries[i];
            entries[i].type = take_u32(&r);
            entries[i].name = take_bytes(&r);
            entries[i].size = take_u64(&r);
            entries[i].mtime_ns = take_i64(&r);
        }
    }
    finish(&r);
    /* Every field read, the whole listing checked: only now does the plugin see an entry. */
    for (uint32_t i = 0; i < count; i++)
        terminate(entries[i].name);
    for (uint32_t i = 0; i < count; i++)
        if (fn(user_data, &entries[i]) != 0)
            break;
    free(entries);
    release(&r);
    return r.status;
}

static bh_status path_op(uint16_t op, const char *name, bh_plugin plugin, bh_cap root, const char *path,
                         size_t path_len)
{
    bh_status st;
    if (path_refused(name, path, path_len, 8 + 8 + 4, &st))
        return st;
    struct bhw_out o;
    put_root_path(&o, plugin, root, path, path_len);
    struct reply r;
    request(op, bhw_calls_current(), &o, &r);
    finish(&r);
    release(&r);
    return r.status;
}

static bh_status h_dir_create(bh_plugin plugin, bh_cap root, const char *path, size_t path_len)
{
    return path_op(BHW_DIR_CREATE, "mkdir", plugin, root, path, path_len);
}

static bh_status h_file_remove(bh_plugin plugin, bh_cap root, const char *path, size_t path_len)
{
    return path_op(BHW_FILE_REMOVE, "remove", plugin, root, path, path_len);
}

static bh_status h_file_rename(bh_plugin plugin, bh_cap root, const char *from, size_t from_len, const char *to,
                               size_t to_len)
{
    bh_status st;
    if (path_refused("rename", from, from_len, 8 + 8 + 4 + 4, &st))
        return st;
    if (path_refused("rename", to, to_len, 8 + 8 + 4 + 4 + from_len, &st))
        return st;
    struct bhw_out o;
    put_root_path(&o, plugin, root, from, from_len);
    bhw_put_bytes(&o, to, to_len);
    struct reply r;
    request(BHW_FILE_RENAME, bhw_calls_current(), &o, &r);
    finish(&r);
    release(&r);
    return r.status;
}

static bh_status h_root_path(bh_plugin plugin, bh_cap root, bh_bytes *out)
{
    if (!out) {
        local_error("root_path: out is NULL");
        return BH_E_INVALID;
    }
    if (cache_find(CACHE_ROOT, plugin.token, root.token, NULL, 0, out))
        return BH_OK;
    struct bhw_out o;
    bhw_out_init(&o);
    bhw_put_u64(&o, plugin.token);
    bhw_put_u64(&o, root.token);
    struct reply r;
    request(BHW_ROOT_PATH, bhw_calls_current(), &o, &r);
    bh_bytes value = {0};
    if (r.status == BH_OK)
        value = take_bytes(&r);
    finish(&r);
    if (r.status == BH_OK)
        *out = cache_add(CACHE_ROOT, plugin.token, root.token, NULL, 0, value);
    release(&r);
    return r.status;
}

static bh_status h_secret_read(bh_plugin plugin, bh_cap secret, char *buf, size_t buf_size, size_t *len_out)
{
    if (!len_out) {
        local_error("secret_read: len_out is NULL");
        return BH_E_INVALID;
    }
    /* No buffer holds nothing: the core answers BH_E_TOO_LARGE with the size needed, as in-process. */
    uint64_t room = buf ? (uint64_t)buf_size : 0;
    struct bhw_out o;
    bhw_out_init(&o);
    bhw_put_u64(&o, plugin.token);
    bhw_put_u64(&o, secret.token);
    bhw_put_u64(&o, room);
    struct reply r;
    request(BHW_SECRET_READ, bhw_calls_current(), &o, &r);
    uint64_t len = 0;
    bh_bytes value = {0};
    if (r.status == BH_OK || r.status == BH_E_TOO_LARGE) {
        len = take_u64(&r);
        value = take_bytes(&r);
    }
    finish(&r);
    if (r.status == BH_OK) {
        if (value.len != len || len > room)
            malformed_reply();
        if (len)
            memcpy(buf, value.ptr, len);
        *len_out = (size_t)len;
    } else if (r.status == BH_E_TOO_LARGE) {
        *len_out = (size_t)len;
    }
    /* The value passed through this buffer: it does not linger in freed memory. */
    explicit_bzero(r.payload, r.len);
    release(&r);
    return r.status;
}

static bh_status h_http_request(bh_call call, bh_cap origin, const bh_http_request *req, bh_http_response *out)
{
    /* Missing or too small structs go as struct_size 0 (or theirs): the core refuses them in its own order. */
    uint32_t req_size = req ? req->struct_size : 0;
    uint32_t timeout = req && BH_HAS_FIELD(req, bh_http_request, timeout_ms) ? req->timeout_ms : 0;
    bh_bytes method = {0}, url = {0}, headers = {0}, body = {0};
    if (req && BH_HAS_FIELD(req, bh_http_request, method))
        method = req->method;
    if (req && BH_HAS_FIELD(req, bh_http_request, url))
        url = req->url;
    if (req && BH_HAS_FIELD(req, bh_http_request, headers))
        headers = req->headers;
    if (req && BH_HAS_FIELD(req, bh_http_request, body))
        body = req->body;
    if ((!method.ptr && method.len) || (!headers.ptr && headers.len) || (!body.ptr && body.len)) {
        local_error("http_request: method, headers or body is NULL with a non-zero length");
        return BH_E_INVALID;
    }
    if (!url.ptr && url.len) {
        local_error("http_request: the URL is NULL with a non-zero length");
        return BH_E_INVALID;
    }
    if (!fits(8 + 4 + 4 + 4 * 4 + 4, method.len, url.len, headers.len, body.len)) {
        local_error("http_request: the request (method, URL, headers and body) is larger than the worker "
                    "channel carries (%u bytes a frame)",
                    (unsigned)BHW_MAX_FRAME);
        return BH_E_TOO_LARGE;
    }
    uint32_t out_size = out ? out->struct_size : 0;

    struct bhw_call_ref ref;
    if (!bhw_calls_use(call.token, &ref))
        return BH_E_STALE;
    struct bhw_out o;
    bhw_out_init(&o);
    bhw_put_u64(&o, origin.token);
    bhw_put_u32(&o, req_size);
    bhw_put_u32(&o, timeout);
    bhw_put_bytes(&o, method.ptr, method.len);
    bhw_put_bytes(&o, url.ptr, url.len);
    bhw_put_bytes(&o, headers.ptr, headers.len);
    bhw_put_bytes(&o, body.ptr, body.len);
    bhw_put_u32(&o, out_size);
    struct reply r;
    request(BHW_HTTP_REQUEST, call.token, &o, &r);
    int32_t status = 0;
    bh_bytes rheaders = {0}, rbody = {0};
    if (r.status == BH_OK) {
        status = (int32_t)take_u32(&r);
        rheaders = take_bytes(&r);
        rbody = take_bytes(&r);
    }
    finish(&r);
    bh_status st = r.status;
    if (st == BH_OK && ref.call && out) {
        terminate(rheaders);
        terminate(rbody);
        bhw_calls_lend(ref.call, r.payload);
        if (BH_HAS_FIELD(out, bh_http_response, status))
            out->status = status;
        if (BH_HAS_FIELD(out, bh_http_response, headers))
            out->headers = rheaders;
        if (BH_HAS_FIELD(out, bh_http_response, body))
            out->body = rbody;
    } else {
        if (st == BH_OK)
            st = out ? BH_E_STALE : BH_E_INVALID;
        release(&r);
    }
    bhw_calls_unuse(&ref);
    return st;
}

/* A request, not a one-way frame like a log line, so that every status (a
 * non-finite value, a message that is not UTF-8, a stale call) is the core's,
 * as in-process. */
static bh_status h_progress(bh_call call, double progress, double total, const char *message, size_t message_len)
{
    if (!message && message_len)
        return BH_E_INVALID;
    if (message_len > 4096)
        message_len = utf8_cut(message, 4096); /* the core keeps 1000 bytes */
    uint64_t p, t;
    memcpy(&p, &progress, sizeof p);
    memcpy(&t, &total, sizeof t);
    struct bhw_out o;
    bhw_out_init(&o);
    bhw_put_u64(&o, p);
    bhw_put_u64(&o, t);
    bhw_put_bytes(&o, message, message_len);
    return status_request(BHW_PROGRESS, call, &o);
}

static bh_status h_last_error(bh_bytes *out)
{
    if (!out)
        return BH_E_INVALID;
    out->ptr = last_err.text;
    out->len = last_err.len;
    return BH_OK;
}

/* ---- the table --------------------------------------------------------- */

static const bh_host_api api = {
    .struct_size = sizeof(bh_host_api),
    .abi_major = BH_ABI_VERSION_MAJOR,
    .abi_minor = BH_ABI_VERSION_MINOR,
    .register_tool = h_register_tool,
    .log = h_log,
    .config = h_config,
    .arguments = h_arguments,
    .arg_string = h_arg_string,
    .arg_int = h_arg_int,
    .arg_double = h_arg_double,
    .arg_bool = h_arg_bool,
    .arg_json = h_arg_json,
    .caller = h_caller,
    .remaining_ms = h_remaining_ms,
    .is_cancelled = h_is_cancelled,
    .result_text = h_result_text,
    .result_json = h_result_json,
    .result_error = h_result_error,
    .core_status = h_core_status,
    .capability = h_capability,
    .file_open = h_file_open,
    .file_stat = h_file_stat,
    .dir_list = h_dir_list,
    .dir_create = h_dir_create,
    .file_rename = h_file_rename,
    .file_remove = h_file_remove,
    .root_path = h_root_path,
    .secret_read = h_secret_read,
    .http_request = h_http_request,
    .last_error = h_last_error,
    .progress = h_progress,
    .register_resource = h_register_resource,
    .register_prompt = h_register_prompt,
    .register_resource_list = h_register_resource_list,
    .result_resource = h_result_resource,
    .result_message = h_result_message,
    .add_source = h_add_source,
    .report_excluded = h_report_excluded,
    .register_completion = h_register_completion,
    .resource_changed = h_resource_changed,
    .result_media = h_result_media,
};

const bh_host_api *bhw_host_api(void)
{
    return &api;
}
