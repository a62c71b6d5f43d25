/*
 * channel.c — framing on fd 3. Writers are serialised by one mutex and
 * always write a frame whole; the single reader reads through a buffer with
 * recvmsg so that descriptors passed by SCM_RIGHTS are never dropped.
 */
#include "channel.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- ends -------------------------------------------------------------- */

_Noreturn void bhw_protocol_error(const char *what)
{
    fprintf(stderr, "bulkhead-worker: protocol error from the core: %s\n", what);
    _exit(70);
}

_Noreturn void bhw_fatal(const char *what)
{
    fprintf(stderr, "bulkhead-worker: %s\n", what);
    _exit(70);
}

/* ---- little-endian codec ----------------------------------------------- */

static void le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t rd32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static uint64_t rd64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* ---- outbound payloads ------------------------------------------------- */

/* Byte fields up to this size are copied: one iovec per field costs more than the copy. */
#define BHW_COPY_BELOW 128
/*
 * Room in `small` that copied byte fields never take, kept for the scalars
 * that follow them: no payload has more than 64 bytes of scalars in all.
 */
#define BHW_SCALAR_ROOM 64

void bhw_out_init(struct bhw_out *o)
{
    o->small_used = 0;
    o->n_iov = 0;
    o->total = 0;
}

/* The callers' payloads are fixed shapes, so running out of room is a bug here, not bad input. */
static void need(bool ok)
{
    if (!ok)
        bhw_fatal("internal error: a payload outgrew struct bhw_out");
}

/* Appends to `small`, growing the last iovec when it already ends there. */
static void put_small(struct bhw_out *o, const void *p, size_t n)
{
    need(o->small_used + n <= sizeof o->small);
    unsigned char *dst = o->small + o->small_used;
    if (n)
        memcpy(dst, p, n);
    o->small_used += n;
    o->total += n;
    if (o->n_iov > 0) {
        struct iovec *last = &o->iov[o->n_iov - 1];
        if ((unsigned char *)last->iov_base + last->iov_len == dst) {
            last->iov_len += n;
            return;
        }
    }
    need(o->n_iov < BHW_OUT_IOVS);
    o->iov[o->n_iov].iov_base = dst;
    o->iov[o->n_iov].iov_len = n;
    o->n_iov++;
}

void bhw_put_u32(struct bhw_out *o, uint32_t v)
{
    unsigned char b[4];
    le32(b, v);
    put_small(o, b, sizeof b);
}

void bhw_put_u64(struct bhw_out *o, uint64_t v)
{
    unsigned char b[8];
    le64(b, v);
    put_small(o, b, sizeof b);
}

void bhw_put_i64(struct bhw_out *o, int64_t v)
{
    bhw_put_u64(o, (uint64_t)v);
}

void bhw_put_bytes(struct bhw_out *o, const void *ptr, size_t len)
{
    /* A length past 32 bits could not be framed; bhw_send refuses the frame anyway. */
    bhw_put_u32(o, len > UINT32_MAX ? UINT32_MAX : (uint32_t)len);
    if (len == 0)
        return;
    if (len < BHW_COPY_BELOW && o->small_used + len + BHW_SCALAR_ROOM <= sizeof o->small) {
        put_small(o, ptr, len);
        return;
    }
    need(o->n_iov < BHW_OUT_IOVS);
    o->iov[o->n_iov].iov_base = (void *)ptr;
    o->iov[o->n_iov].iov_len = len;
    o->n_iov++;
    o->total += len;
}

bool bhw_fits(size_t payload_len)
{
    return payload_len <= BHW_MAX_PAYLOAD;
}

static pthread_mutex_t write_mu = PTHREAD_MUTEX_INITIALIZER;

void bhw_send(uint16_t op, uint64_t call, uint64_t seq, const struct bhw_out *payload)
{
    size_t total = payload ? payload->total : 0;
    if (!bhw_fits(total))
        bhw_fatal("internal error: a frame past BHW_MAX_FRAME was about to be sent");

    unsigned char header[BHW_HEADER_SIZE];
    le32(header, (uint32_t)(BHW_HEADER_SIZE - 4u + total));
    header[4] = (unsigned char)op;
    header[5] = (unsigned char)(op >> 8);
    header[6] = header[7] = 0;
    le64(header + 8, call);
    le64(header + 16, seq);

    struct iovec iov[BHW_OUT_IOVS + 1];
    int n = 0;
    iov[n].iov_base = header;
    iov[n].iov_len = sizeof header;
    n++;
    for (int i = 0; payload && i < payload->n_iov; i++)
        if (payload->iov[i].iov_len)
            iov[n++] = payload->iov[i];

    pthread_mutex_lock(&write_mu);
    struct iovec *cur = iov;
    int left = n;
    while (left > 0) {
        struct msghdr msg = {.msg_iov = cur, .msg_iovlen = (size_t)left};
        ssize_t w = sendmsg(BHW_CHANNEL_FD, &msg, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            /* The core closed its end or died; nobody is left to report to. */
            _exit(0);
        }
        size_t done = (size_t)w;
        while (left > 0 && done >= cur->iov_len) {
            done -= cur->iov_len;
            cur++;
            left--;
        }
        if (left > 0) {
            cur->iov_base = (unsigned char *)cur->iov_base + done;
            cur->iov_len -= done;
        }
    }
    pthread_mutex_unlock(&write_mu);
}

/* ---- inbound ----------------------------------------------------------- */

/* Reader thread only, so none of this needs a lock. */

#define BHW_FD_QUEUE 64
static int fd_queue[BHW_FD_QUEUE];
static size_t fd_head, fd_count;

int bhw_take_fd(void)
{
    if (fd_count == 0)
        return -1;
    int fd = fd_queue[fd_head];
    fd_head = (fd_head + 1) % BHW_FD_QUEUE;
    fd_count--;
    return fd;
}

static void keep_fd(int fd)
{
    if (fd_count == BHW_FD_QUEUE) {
        close(fd);
        bhw_protocol_error("more descriptors sent than BHW_FILE_OPEN replies to carry them");
    }
    fd_queue[(fd_head + fd_count) % BHW_FD_QUEUE] = fd;
    fd_count++;
}

/* Enough for a burst of file_open replies read in one go; more is MSG_CTRUNC, a protocol error. */
#define BHW_FDS_PER_READ 16

/* One recvmsg: > 0 bytes read, 0 end of file, -1 error. Descriptors go to the queue. */
static ssize_t receive(void *dst, size_t cap)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * BHW_FDS_PER_READ)];
        struct cmsghdr align;
    } control;
    for (;;) {
        struct iovec iov = {.iov_base = dst, .iov_len = cap};
        struct msghdr msg = {
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = control.buf,
            .msg_controllen = sizeof control.buf,
        };
        /* CLOEXEC: the plugin owns these descriptors and file_open promises close-on-exec. */
        ssize_t r = recvmsg(BHW_CHANNEL_FD, &msg, MSG_CMSG_CLOEXEC);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            const unsigned char *data = CMSG_DATA(c);
            for (size_t i = 0; i < n; i++) {
                int fd;
                memcpy(&fd, data + i * sizeof fd, sizeof fd);
                keep_fd(fd);
            }
        }
        /* Descriptors were lost: the pairing of descriptors with replies can no longer be trusted. */
        if (msg.msg_flags & MSG_CTRUNC)
            bhw_protocol_error("descriptors were cut off (MSG_CTRUNC)");
        return r;
    }
}

/*
 * Small frames (nearly all of them) come out of one buffer, several per
 * recvmsg; a large payload is read straight into its own allocation.
 */
static unsigned char rbuf[64 * 1024];
static size_t rstart, rend;

static bool read_exact(unsigned char *dst, size_t n)
{
    while (n > 0) {
        if (rstart < rend) {
            size_t take = rend - rstart < n ? rend - rstart : n;
            memcpy(dst, rbuf + rstart, take);
            rstart += take;
            dst += take;
            n -= take;
            continue;
        }
        ssize_t r;
        if (n >= sizeof rbuf / 2) {
            r = receive(dst, n);
            if (r <= 0)
                return false;
            dst += r;
            n -= (size_t)r;
        } else {
            rstart = rend = 0;
            r = receive(rbuf, sizeof rbuf);
            if (r <= 0)
                return false;
            rend = (size_t)r;
        }
    }
    return true;
}

bool bhw_read_frame(struct bhw_frame *f)
{
    unsigned char h[BHW_HEADER_SIZE];
    if (!read_exact(h, sizeof h))
        return false;
    uint32_t length = rd32(h);
    if (length < BHW_HEADER_SIZE - 4u || length > BHW_MAX_FRAME)
        bhw_protocol_error("frame length out of range");
    if (h[6] != 0 || h[7] != 0)
        bhw_protocol_error("frame flags are not 0");
    f->op = (uint16_t)(h[4] | (h[5] << 8));
    f->call = rd64(h + 8);
    f->seq = rd64(h + 16);
    f->len = length - (BHW_HEADER_SIZE - 4u);
    /* The NUL after the last byte lets borrowed bytes handed to the plugin end in one, as in-process. */
    f->payload = malloc(f->len + 1);
    if (!f->payload)
        bhw_fatal("out of memory reading a frame");
    if (!read_exact(f->payload, f->len)) {
        free(f->payload);
        f->payload = NULL;
        return false;
    }
    f->payload[f->len] = 0;
    return true;
}

/* ---- payload fields ---------------------------------------------------- */

void bhw_in_init(struct bhw_in *in, const unsigned char *p, size_t len)
{
    in->p = p;
    in->len = len;
    in->at = 0;
}

bool bhw_get_u32(struct bhw_in *in, uint32_t *v)
{
    if (in->len - in->at < 4)
        return false;
    *v = rd32(in->p + in->at);
    in->at += 4;
    return true;
}

bool bhw_get_u64(struct bhw_in *in, uint64_t *v)
{
    if (in->len - in->at < 8)
        return false;
    *v = rd64(in->p + in->at);
    in->at += 8;
    return true;
}

bool bhw_get_i64(struct bhw_in *in, int64_t *v)
{
    uint64_t u;
    if (!bhw_get_u64(in, &u))
        return false;
    *v = (int64_t)u;
    return true;
}

bool bhw_get_bytes(struct bhw_in *in, const char **ptr, size_t *len)
{
    size_t start = in->at;
    uint32_t n;
    if (!bhw_get_u32(in, &n))
        return false;
    if (in->len - in->at < n) {
        in->at = start;
        return false;
    }
    *ptr = (const char *)in->p + in->at;
    *len = n;
    in->at += n;
    return true;
}

bool bhw_at_end(const struct bhw_in *in)
{
    return in->at == in->len;
}
