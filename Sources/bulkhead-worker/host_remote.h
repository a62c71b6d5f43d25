/*
 * host_remote.h — the bh_host_api a plugin gets inside the worker: each
 * function is a request to the core over the channel, answered by BHW_REPLY,
 * except what the worker knows itself (cancellation, deadlines, last_error).
 */
#ifndef BHW_HOST_REMOTE_H
#define BHW_HOST_REMOTE_H

#include <bulkhead/bulkhead.h>

#include "channel.h"

/* The table handed to init and to every tool function; valid until exit. */
const bh_host_api *bhw_host_api(void);

/*
 * Reader thread: hands a BHW_REPLY to the request waiting for its seq
 * (taking the frame's payload, and for a successful BHW_FILE_OPEN the
 * next received descriptor). A reply nobody waits for is a protocol error.
 */
void bhw_remote_deliver(struct bhw_frame *reply);

#endif
