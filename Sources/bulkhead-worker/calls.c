/*
 * calls.c — the table of calls in flight. A handful at most (one per runner
 * thread plus those queued), so a list under one lock; the thread running a
 * call finds it through a thread-local without the lock, which keeps
 * is_cancelled the cheap check the ABI promises.
 */
#include "calls.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "channel.h"

static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
/* Signalled when a held call's last hold is let go. */
static pthread_cond_t table_cv = PTHREAD_COND_INITIALIZER;
static struct bhw_call *table;

static _Thread_local struct bhw_call *current;

static struct bhw_call *find(uint64_t token)
{
    for (struct bhw_call *c = table; c; c = c->next)
        if (c->token == token)
            return c;
    return NULL;
}

struct bhw_call *bhw_calls_add(uint64_t token, char *tool, size_t tool_len, int64_t deadline_ns)
{
    struct bhw_call *c = calloc(1, sizeof *c);
    if (!c)
        bhw_fatal("out of memory for a call");
    c->token = token;
    c->tool = tool;
    c->tool_len = tool_len;
    c->deadline_ns = deadline_ns;
    atomic_init(&c->cancelled, false);
    pthread_mutex_init(&c->arena_mu, NULL);

    pthread_mutex_lock(&table_mu);
    if (find(token)) {
        pthread_mutex_unlock(&table_mu);
        pthread_mutex_destroy(&c->arena_mu);
        free(c);
        return NULL;
    }
    c->next = table;
    table = c;
    pthread_mutex_unlock(&table_mu);
    return c;
}

void bhw_calls_cancel(uint64_t token)
{
    pthread_mutex_lock(&table_mu);
    struct bhw_call *c = find(token);
    if (c)
        atomic_store(&c->cancelled, true);
    pthread_mutex_unlock(&table_mu);
}

bool bhw_calls_use(uint64_t token, struct bhw_call_ref *ref)
{
    ref->call = NULL;
    ref->counted = false;
    /* The thread inside the call cannot also be finishing it: no hold needed. */
    if (current && current->token == token) {
        ref->call = current;
        return true;
    }
    pthread_mutex_lock(&table_mu);
    struct bhw_call *c = find(token);
    if (c && c->ended) {
        pthread_mutex_unlock(&table_mu);
        return false;
    }
    if (c) {
        c->users++;
        ref->call = c;
        ref->counted = true;
    }
    pthread_mutex_unlock(&table_mu);
    return true;
}

void bhw_calls_unuse(struct bhw_call_ref *ref)
{
    if (!ref->counted)
        return;
    pthread_mutex_lock(&table_mu);
    if (--ref->call->users == 0 && ref->call->ended)
        pthread_cond_broadcast(&table_cv);
    pthread_mutex_unlock(&table_mu);
    ref->counted = false;
}

void bhw_calls_lend(struct bhw_call *c, void *block)
{
    pthread_mutex_lock(&c->arena_mu);
    if (c->arena_len == c->arena_cap) {
        size_t cap = c->arena_cap ? c->arena_cap * 2 : 8;
        void **grown = realloc(c->arena, cap * sizeof *grown);
        if (!grown)
            bhw_fatal("out of memory for a call's borrowed bytes");
        c->arena = grown;
        c->arena_cap = cap;
    }
    c->arena[c->arena_len++] = block;
    pthread_mutex_unlock(&c->arena_mu);
}

void bhw_calls_finish(struct bhw_call *c)
{
    pthread_mutex_lock(&table_mu);
    c->ended = true;
    while (c->users > 0)
        pthread_cond_wait(&table_cv, &table_mu);
    for (struct bhw_call **p = &table; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    pthread_mutex_unlock(&table_mu);

    for (size_t i = 0; i < c->arena_len; i++)
        free(c->arena[i]);
    free(c->arena);
    pthread_mutex_destroy(&c->arena_mu);
    free(c->args);
    free(c->tool);
    free(c);
}

/* One entry: bytes key, then per accessor its status and value (see bh_worker_protocol.h). */
static bool next_arg(struct bhw_in *in, const char **key, size_t *key_len, struct bhw_arg *a)
{
    uint64_t i = 0;
    return bhw_get_bytes(in, key, key_len) && bhw_get_u32(in, &a->string_status) &&
           bhw_get_bytes(in, &a->string, &a->string_len) && bhw_get_u32(in, &a->int_status) &&
           bhw_get_u64(in, &i) && (a->int_value = (int64_t)i, true) && bhw_get_u32(in, &a->double_status) &&
           bhw_get_u64(in, &a->double_bits) && bhw_get_u32(in, &a->bool_status) &&
           bhw_get_u32(in, &a->bool_value) && bhw_get_u32(in, &a->json_status) &&
           bhw_get_bytes(in, &a->json, &a->json_len);
}

bool bhw_args_valid(const unsigned char *table, size_t len, uint32_t count)
{
    struct bhw_in in;
    bhw_in_init(&in, table, len);
    for (uint32_t n = 0; n < count; n++) {
        const char *key;
        size_t key_len;
        struct bhw_arg a;
        if (!next_arg(&in, &key, &key_len, &a))
            return false;
    }
    return bhw_at_end(&in);
}

bool bhw_args_find(const struct bhw_call *call, const char *key, size_t key_len, struct bhw_arg *out)
{
    if (!call || !call->args)
        return false;
    struct bhw_in in;
    bhw_in_init(&in, call->args, call->args_len);
    for (uint32_t n = 0; n < call->args_count; n++) {
        const char *k;
        size_t k_len;
        if (!next_arg(&in, &k, &k_len, out))
            return false;
        if (k_len == key_len && (key_len == 0 || memcmp(k, key, key_len) == 0))
            return true;
    }
    return false;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cancelled(const struct bhw_call *c)
{
    if (atomic_load_explicit(&c->cancelled, memory_order_relaxed))
        return 1;
    return c->deadline_ns != 0 && now_ns() >= c->deadline_ns;
}

static int64_t remaining(const struct bhw_call *c)
{
    if (c->deadline_ns == 0)
        return -1;
    int64_t now = now_ns();
    return now >= c->deadline_ns ? 0 : (c->deadline_ns - now) / 1000000;
}

int bhw_calls_is_cancelled(uint64_t token)
{
    if (current && current->token == token)
        return cancelled(current);
    pthread_mutex_lock(&table_mu);
    struct bhw_call *c = find(token);
    int r = !c || c->ended ? 1 : cancelled(c);
    pthread_mutex_unlock(&table_mu);
    return r;
}

int64_t bhw_calls_remaining_ms(uint64_t token)
{
    if (current && current->token == token)
        return remaining(current);
    pthread_mutex_lock(&table_mu);
    struct bhw_call *c = find(token);
    int64_t r = !c || c->ended ? 0 : remaining(c);
    pthread_mutex_unlock(&table_mu);
    return r;
}

void bhw_calls_enter(struct bhw_call *c)
{
    current = c;
}

void bhw_calls_leave(void)
{
    current = NULL;
}

uint64_t bhw_calls_current(void)
{
    return current ? current->token : 0;
}
