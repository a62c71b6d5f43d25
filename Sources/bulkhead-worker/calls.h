/*
 * calls.h — the calls in flight in this worker: from the BHW_CALL that
 * brings one until just before its BHW_DONE. Each keeps its cancellation,
 * its deadline and the arena of memory lent to the plugin during it.
 */
#ifndef BHW_CALLS_H
#define BHW_CALLS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bhw_call {
    uint64_t token;
    char *tool; /* the tool's name as BHW_CALL sent it, NUL-terminated */
    size_t tool_len;
    int64_t deadline_ns; /* CLOCK_MONOTONIC; 0: none */
    atomic_bool cancelled;
    /* The arguments table BHW_CALL brought (see bh_worker_protocol.h), owned; NULL: none. */
    unsigned char *args;
    size_t args_len;
    uint32_t args_count;

    /* The rest is the table's (guarded by its lock) and the arena's (by arena_mu). */
    bool ended;     /* the tool function returned: the token is stale from here on */
    unsigned users; /* host functions between bhw_calls_use and bhw_calls_unuse */
    pthread_mutex_t arena_mu;
    void **arena;
    size_t arena_len, arena_cap;
    struct bhw_call *next;
    struct bhw_call *queue_next; /* the runner's queue of calls not yet started */
};

/*
 * Enters a call into the table. Takes `tool` (malloc'd). NULL when a call
 * with that token is already in flight.
 */
struct bhw_call *bhw_calls_add(uint64_t token, char *tool, size_t tool_len, int64_t deadline_ns);

/* One top-level argument as the core answered each accessor for it, from the call's table. */
struct bhw_arg {
    uint32_t string_status, int_status, double_status, bool_status, json_status;
    const char *string, *json;
    size_t string_len, json_len;
    int64_t int_value;
    uint64_t double_bits;
    uint32_t bool_value;
};

/* Checks a table's shape; false when it is malformed. */
bool bhw_args_valid(const unsigned char *table, size_t len, uint32_t count);
/* Finds `key` (byte for byte) in the call's table; false when absent (ask the core). */
bool bhw_args_find(const struct bhw_call *call, const char *key, size_t key_len, struct bhw_arg *out);

void bhw_calls_cancel(uint64_t token);

/*
 * A host function's hold on a call while it talks to the core about it: the
 * call's DONE is not sent, nor its arena freed, before the hold is let go.
 * `call` is NULL for a token this worker does not know (forged, or long
 * gone): the request still goes to the core, which logs it and answers
 * BH_E_STALE, as in-process.
 */
struct bhw_call_ref {
    struct bhw_call *call;
    bool counted;
};

/* False (take no hold) when the call's tool function already returned. */
bool bhw_calls_use(uint64_t token, struct bhw_call_ref *ref);
void bhw_calls_unuse(struct bhw_call_ref *ref);

/* Hands `block` (malloc'd) to the call: freed when its tool function has returned. */
void bhw_calls_lend(struct bhw_call *call, void *block);

/*
 * After the tool function returned: the token goes stale, holds are waited
 * for, and the call leaves the table; its arena and record are freed.
 */
void bhw_calls_finish(struct bhw_call *call);

/* As bh_host_api's: 1 for a token not in flight. */
int bhw_calls_is_cancelled(uint64_t token);
/* As bh_host_api's: -1 no deadline, 0 once past or for a token not in flight. */
int64_t bhw_calls_remaining_ms(uint64_t token);

/* The call whose tool function this thread is inside (set by the runner around it). */
void bhw_calls_enter(struct bhw_call *call);
void bhw_calls_leave(void);
/* Its token, or 0: init, destroy, and threads the plugin started. */
uint64_t bhw_calls_current(void);

#endif
