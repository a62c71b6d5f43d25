/*
 * runner.h — the threads that run the plugin: init, then its tool calls,
 * then (at shutdown) its destroy. Never the reader thread, which must stay
 * free to read the replies those threads wait for.
 */
#ifndef BHW_RUNNER_H
#define BHW_RUNNER_H

#include <bulkhead/bulkhead.h>

#include <stdint.h>

#include "calls.h"

/* The plugin's init export (NULL when it has none), known from load time. */
void bhw_runner_prepare(bh_plugin_init_fn init);

/*
 * BHW_INIT: starts the first runner thread, which runs init, starts the
 * others and sends BHW_INIT_DONE. A second BHW_INIT is a protocol error.
 */
void bhw_runner_init(uint64_t plugin_token, uint32_t threads);

/*
 * BHW_CALL: enters the call into the calls table and queues it for a runner
 * thread (taking `tool`, malloc'd). Once shutdown has begun it is answered
 * BHW_DONE(BH_E_CANCELLED) at once instead. A call before init succeeded, or
 * for a token already in flight, is a protocol error.
 */
void bhw_runner_submit(uint64_t token, char *tool, size_t tool_len, int64_t deadline_ns,
                       unsigned char *args, size_t args_len, uint32_t args_count);

/* BHW_SHUTDOWN: returns at once; a thread of its own drains, destroys and exits 0. */
void bhw_runner_shutdown(void);

/* Keeps a registration the core accepted, for BHW_CALL to find by name. */
void bhw_runner_add_tool(const char *name, size_t name_len, bh_tool_fn fn, void *user_data);

#endif
