/*
 * channel.h — the worker's end of the core channel (fd 3): whole frames out,
 * whole frames in, the descriptors that arrive with them, and the payload
 * field codec of bh_worker_protocol.h.
 */
#ifndef BHW_CHANNEL_H
#define BHW_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "bh_worker_protocol.h"

/* The most payload one frame carries: the length field counts the header's last 20 bytes too. */
#define BHW_MAX_PAYLOAD ((size_t)BHW_MAX_FRAME - (BHW_HEADER_SIZE - 4u))

/* ---- outbound payloads ------------------------------------------------- */

/*
 * A payload being put together. Scalars and short byte fields are copied
 * into `small`; long byte fields stay where the caller has them and are
 * written from there, so a 64 MiB result is never copied in the worker.
 * Lives on the caller's stack and must not be moved once a field is in it.
 */
#define BHW_OUT_IOVS 16
struct bhw_out {
    unsigned char small[512];
    size_t small_used;
    struct iovec iov[BHW_OUT_IOVS];
    int n_iov;
    size_t total;
};

void bhw_out_init(struct bhw_out *o);
void bhw_put_u32(struct bhw_out *o, uint32_t v);
void bhw_put_u64(struct bhw_out *o, uint64_t v);
void bhw_put_i64(struct bhw_out *o, int64_t v);
/* `ptr` must stay valid until bhw_send returns. NULL is fine when len is 0. */
void bhw_put_bytes(struct bhw_out *o, const void *ptr, size_t len);

/* True when a payload of `payload_len` bytes fits in one frame. */
bool bhw_fits(size_t payload_len);

/*
 * Sends one frame whole; frames from several threads never interleave.
 * A payload past BHW_MAX_PAYLOAD is a bug of the caller (every caller checks
 * with bhw_fits first) and ends the worker. When the core is gone (EPIPE,
 * ECONNRESET...) the worker ends at once with status 0: nobody is left to
 * answer.
 */
void bhw_send(uint16_t op, uint64_t call, uint64_t seq, const struct bhw_out *payload);

/* ---- inbound frames ---------------------------------------------------- */

struct bhw_frame {
    uint16_t op;
    uint64_t call;
    uint64_t seq;
    unsigned char *payload; /* malloc'd, `len` bytes plus a NUL; owned by whoever takes the frame */
    size_t len;
};

/*
 * Reads the next frame. Returns true with a frame, false at end of file or
 * on a read error (the core is gone). A malformed header ends the worker
 * with status 70. Only ever called from the reader thread.
 */
bool bhw_read_frame(struct bhw_frame *f);

/*
 * The oldest descriptor received by SCM_RIGHTS and not yet taken, or -1.
 * Descriptors arrive with the bytes of the frame they belong to (or of an
 * earlier one, when reads run ahead), so taking them in frame order pairs
 * each with its BHW_FILE_OPEN reply. Reader thread only.
 */
int bhw_take_fd(void);

/* ---- payload fields ---------------------------------------------------- */

struct bhw_in {
    const unsigned char *p;
    size_t len;
    size_t at;
};

void bhw_in_init(struct bhw_in *in, const unsigned char *p, size_t len);
/* Each returns false, taking nothing, when the field runs past the payload. */
bool bhw_get_u32(struct bhw_in *in, uint32_t *v);
bool bhw_get_u64(struct bhw_in *in, uint64_t *v);
bool bhw_get_i64(struct bhw_in *in, int64_t *v);
bool bhw_get_bytes(struct bhw_in *in, const char **ptr, size_t *len);
bool bhw_at_end(const struct bhw_in *in);

/* ---- ends -------------------------------------------------------------- */

/* The core sent something this protocol does not allow: a line on stderr, then _exit(70). */
_Noreturn void bhw_protocol_error(const char *what);
/* The worker cannot go on (out of memory, no thread): a line on stderr, then _exit(70). */
_Noreturn void bhw_fatal(const char *what);

#endif
