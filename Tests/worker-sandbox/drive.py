#!/usr/bin/env python3
"""
Plays the core against the built bulkhead-worker with the bench plugin:
HELLO, INIT (answering its BHW_REGISTER), INIT_DONE, calls of `add` (alone,
then several in flight with their requests answered out of order), an
unknown tool, SHUTDOWN with exit 0; then a malformed reply (exit 70), the
core's end closing (exit 0) and a bad command line (exit 64).

    python3 Tests/worker-sandbox/drive.py [path/to/bulkhead-worker]

Plain python3, no dependencies. The worker defaults to
.build/release/bulkhead-worker ($BULKHEAD_WORKER overrides it); the bench
plugin is built with `make -C plugins` when missing. One PASS/FAIL line per
check, exit 0 only when all pass.
"""
import os
import socket
import struct
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BENCH_DIR = os.path.join(ROOT, "plugins", "bench")
BENCH_LIB = os.path.join(BENCH_DIR, "libbench.so")
EXEC_DIRS = ["/usr/lib", "/lib", "/lib64", "/usr/lib64"]
TIMEOUT = 10

# bh_worker_protocol.h
HEADER = struct.Struct("<IHHQQ")
HELLO, INIT_DONE, DONE, LOG = 1, 2, 3, 4
INIT, CALL, CANCEL, SHUTDOWN, REPLY = 10, 11, 12, 13, 14
REGISTER, CONFIG, ARG_INT, RESULT_TEXT, RESULT_ERROR = 20, 21, 24, 29, 31
HELLO_OK = 0
ABI_MAGIC = 0x31444842
# bulkhead.h
BH_OK, BH_E_NOT_FOUND, BH_E_UNSUPPORTED = 0, -2, -8
PARALLEL = 1

failures = 0


def check(ok, what, detail=""):
    global failures
    print(("PASS " if ok else "FAIL ") + what + (f" ({detail})" if detail and not ok else ""))
    failures += not ok
    return ok


# ---- framing -----------------------------------------------------------


class Fields:
    """Takes payload fields in order, as the worker lays them out."""

    def __init__(self, data):
        self.data, self.at = data, 0

    def _take(self, n):
        if len(self.data) - self.at < n:
            raise ValueError("payload too short")
        b = self.data[self.at:self.at + n]
        self.at += n
        return b

    def u32(self):
        return struct.unpack("<I", self._take(4))[0]

    def i32(self):
        return struct.unpack("<i", self._take(4))[0]

    def u64(self):
        return struct.unpack("<Q", self._take(8))[0]

    def i64(self):
        return struct.unpack("<q", self._take(8))[0]

    def bytes(self):
        return self._take(self.u32())

    def end(self):
        if self.at != len(self.data):
            raise ValueError("trailing bytes in payload")


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def u64(v):
    return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)


def i64(v):
    return struct.pack("<q", v)


def data(b):
    return u32(len(b)) + b


def send(sock, op, call=0, seq=0, payload=b""):
    sock.sendall(HEADER.pack(HEADER.size - 4 + len(payload), op, 0, call, seq) + payload)


def reply(sock, seq, status, fields=b"", last_error=b""):
    send(sock, REPLY, seq=seq, payload=u32(status) + fields + data(last_error))


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def recv_frame(sock):
    """(op, call, seq, payload), or None when the worker closed its end."""
    h = recv_exact(sock, HEADER.size)
    if h is None:
        return None
    length, op, flags, call, seq = HEADER.unpack(h)
    if flags != 0 or length < HEADER.size - 4:
        raise ValueError(f"bad header: length {length}, flags {flags}")
    payload = recv_exact(sock, length - (HEADER.size - 4))
    if payload is None:
        return None
    return op, call, seq, payload


# ---- the worker --------------------------------------------------------


class Worker:
    def __init__(self, binary, extra_args=None):
        core_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        args = [binary, "--library", BENCH_LIB, "--plugin-dir", BENCH_DIR]
        for d in EXEC_DIRS:
            args += ["--exec-dir", d]
        args += extra_args or []
        wfd = worker_end.fileno()
        if wfd == 3:
            spawn = dict(pass_fds=(3,))
        else:
            # fd 3 is taken in this process: put the worker's end there in the child only.
            # Python's own descriptors are close-on-exec, so nothing else crosses.
            spawn = dict(close_fds=False, preexec_fn=lambda: os.dup2(wfd, 3))
        self.proc = subprocess.Popen(args, env={}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, **spawn)
        worker_end.close()
        self.sock = core_end
        self.sock.settimeout(TIMEOUT)
        self.registered = []
        self.logs = []

    def frame(self):
        return recv_frame(self.sock)

    def wait(self):
        """Exit status, stdout, stderr; the core's end is closed first, as a core that is done would."""
        try:
            out, err = self.proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            return "timeout", out, err
        return self.proc.returncode, out, err

    def close(self):
        self.sock.close()


def serve_request(w, op, call, seq, payload, args_of=None, results=None):
    """Answers one host request the way the core would for the bench plugin."""
    f = Fields(payload)
    if op == REGISTER:
        f.u64()
        name = f.bytes()
        f.end()
        w.registered.append(name)
        reply(w.sock, seq, BH_OK)
    elif op == CONFIG:
        f.u64()
        f.bytes()
        f.end()
        reply(w.sock, seq, BH_E_NOT_FOUND)
    elif op == ARG_INT:
        key = f.bytes().decode()
        f.end()
        value = (args_of or {}).get(call, {}).get(key)
        if value is None:
            reply(w.sock, seq, BH_E_NOT_FOUND)
        else:
            reply(w.sock, seq, BH_OK, i64(value))
    elif op in (RESULT_TEXT, RESULT_ERROR):
        if op == RESULT_ERROR:
            f.u32()
        text = f.bytes().decode()
        f.end()
        if results is not None:
            results[call] = text
        reply(w.sock, seq, BH_OK)
    else:
        reply(w.sock, seq, BH_E_UNSUPPORTED, last_error=b"drive.py does not serve op %d" % op)


def until(w, want, **kw):
    """Serves requests until a frame of op `want` arrives; returns it (None at EOF)."""
    while True:
        fr = w.frame()
        if fr is None:
            return None
        op, call, seq, payload = fr
        if op == want:
            return fr
        if op == LOG:
            w.logs.append(payload)
        elif seq != 0:
            serve_request(w, op, call, seq, payload, **kw)
        else:
            raise ValueError(f"unexpected frame op {op}")


def hello_and_init(w, threads=4):
    fr = w.frame()
    if not check(fr is not None and fr[0] == HELLO, "HELLO arrives first", f"got {fr!r}"):
        return False
    f = Fields(fr[3])
    outcome, magic, major, minor, has_init, walls = (f.u32() for _ in range(6))
    detail = f.bytes()
    f.end()
    if not check(outcome == HELLO_OK, "HELLO outcome OK", f"outcome {outcome}: {detail.decode(errors='replace')}"):
        return False
    check(magic == ABI_MAGIC and (major, minor) == (1, 1) and has_init == 1,
          "HELLO: magic, ABI 1.1, has_init", f"magic {magic:#x}, abi {major}.{minor}, has_init {has_init}")
    print(f"     walls up: {walls:#x}")
    send(w.sock, INIT, payload=u64(0xB1) + u32(threads))
    fr = until(w, INIT_DONE)
    if not check(fr is not None, "INIT_DONE arrives"):
        return False
    f = Fields(fr[3])
    status, concurrency = f.i32(), f.u32()
    f.end()
    check(w.registered == [b"add"], "init registered exactly 'add'", f"{w.registered}")
    return check(status == BH_OK and concurrency == PARALLEL, "INIT_DONE: BH_OK, parallel",
                 f"status {status}, concurrency {concurrency}")


def call(w, token, tool, deadline=0):
    send(w.sock, CALL, call=token, payload=data(tool.encode()) + i64(deadline) + u32(0))  # an empty arguments table: every arg_* is a request


def done_status(fr):
    f = Fields(fr[3])
    s = f.i32()
    f.end()
    return s


# ---- the tests ---------------------------------------------------------


def test_calls(binary):
    print("== a session: init, calls, shutdown")
    w = Worker(binary)
    try:
        if not hello_and_init(w):
            return
        args_of = {0x101: {"a": 40, "b": 2}}
        results = {}
        call(w, 0x101, "add")
        # The worker's own requests name the call in their header.
        seen_calls = set()
        while True:
            fr = w.frame()
            if fr is None or fr[0] == DONE:
                break
            seen_calls.add(fr[1])
            serve_request(w, fr[0], fr[1], fr[2], fr[3], args_of=args_of, results=results)
        check(fr is not None and fr[1] == 0x101 and done_status(fr) == BH_OK, "add(40, 2): DONE BH_OK",
              f"{fr!r}")
        check(results.get(0x101) == "42", "add(40, 2): result text '42'", f"{results}")
        check(seen_calls == {0x101}, "requests carry the call token in header.call", f"{seen_calls}")

        # Several in flight at once, their requests answered in reverse order: replies go by seq.
        tokens = list(range(0x201, 0x209))
        args_of = {t: {"a": t, "b": 1000} for t in tokens}
        results = {}
        for t in tokens:
            call(w, t, "add")
        pending, done, outstanding = [], {}, 0
        w.sock.settimeout(0.2)
        idle = 0.0
        while len(done) < len(tokens) and idle < TIMEOUT:
            try:
                fr = w.frame()
            except socket.timeout:
                fr = "quiet"
            if fr is None:
                break
            if fr != "quiet" and fr[0] == DONE:
                done[fr[1]] = done_status(fr)
                continue
            if fr != "quiet":
                pending.append(fr)
                outstanding = max(outstanding, len(pending))
                idle = 0.0
            else:
                idle += 0.2
            # Hold requests back until every runner is waiting (the worker falls quiet),
            # then answer the newest first.
            if fr == "quiet" and pending:
                for p in reversed(pending):
                    serve_request(w, p[0], p[1], p[2], p[3], args_of=args_of, results=results)
                pending = []
        w.sock.settimeout(TIMEOUT)
        check(outstanding >= 2, "several requests outstanding at once", f"at most {outstanding}")
        check(all(done.get(t) == BH_OK for t in tokens), "8 calls in flight: each DONE BH_OK", f"{done}")
        check(all(results.get(t) == str(t + 1000) for t in tokens), "8 calls in flight: each its own sum",
              f"{results}")

        call(w, 0x301, "no_such_tool")
        fr = until(w, DONE)
        check(fr is not None and fr[1] == 0x301 and done_status(fr) == BH_E_NOT_FOUND,
              "unknown tool: DONE BH_E_NOT_FOUND", f"{fr!r}")

        # A missing argument: the plugin answers with result_error, still BH_OK.
        args_of = {0x401: {"a": 1}}
        results = {}
        call(w, 0x401, "add")
        fr = until(w, DONE, args_of=args_of, results=results)
        check(fr is not None and done_status(fr) == BH_OK and results.get(0x401) == "b must be an integer",
              "add without b: result_error 'b must be an integer'", f"{fr!r} {results}")

        send(w.sock, SHUTDOWN)
        rest = until(w, -1)  # serves whatever destroy asks, until the worker closes its end
        code, out, err = w.wait()
        check(rest is None and code == 0, "SHUTDOWN: exit 0", f"exit {code}, stderr {err!r}")
        check(out == b"", "nothing on stdout", f"{out!r}")
    finally:
        w.close()


def test_malformed_reply(binary):
    print("== a malformed reply")
    w = Worker(binary)
    try:
        fr = w.frame()
        if not check(fr is not None and fr[0] == HELLO, "HELLO arrives"):
            return
        send(w.sock, INIT, payload=u64(0xB1) + u32(1))
        fr = w.frame()
        if not check(fr is not None and fr[0] == REGISTER, "init sends REGISTER", f"{fr!r}"):
            return
        # Status only: the mandatory last_error field is missing.
        send(w.sock, REPLY, seq=fr[2], payload=u32(BH_OK))
        code, out, err = w.wait()
        check(code == 70, "a reply missing its last_error: exit 70", f"exit {code}, stderr {err!r}")
        check(b"protocol error" in err, "the reason is on stderr", f"{err!r}")
    finally:
        w.close()


def test_bad_header(binary):
    print("== a malformed frame header")
    w = Worker(binary)
    try:
        fr = w.frame()
        if not check(fr is not None and fr[0] == HELLO, "HELLO arrives"):
            return
        w.sock.sendall(HEADER.pack(HEADER.size - 4, SHUTDOWN, 1, 0, 0))  # flags must be 0
        code, out, err = w.wait()
        check(code == 70, "flags != 0: exit 70", f"exit {code}, stderr {err!r}")
    finally:
        w.close()


def test_eof(binary):
    print("== the core goes away")
    w = Worker(binary)
    fr = w.frame()
    check(fr is not None and fr[0] == HELLO, "HELLO arrives")
    w.close()
    code, out, err = w.wait()
    check(code == 0, "EOF on fd 3: exit 0", f"exit {code}, stderr {err!r}")


def test_bad_args(binary):
    print("== a bad command line")
    w = Worker(binary, ["--memory-bytes", "-5"])
    code, out, err = w.wait()
    w.close()
    check(code == 64 and err.count(b"\n") == 1, "bad --memory-bytes: exit 64, one line on stderr",
          f"exit {code}, stderr {err!r}")
    check(out == b"", "nothing on stdout", f"{out!r}")


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
        "BULKHEAD_WORKER", os.path.join(ROOT, ".build", "release", "bulkhead-worker"))
    if not os.access(binary, os.X_OK):
        print(f"FAIL no worker at {binary}: run `make worker` first")
        return 1
    if not os.path.exists(BENCH_LIB):
        subprocess.run(["make", "-C", os.path.join(ROOT, "plugins")], check=True, stdout=sys.stderr)
    test_calls(binary)
    test_malformed_reply(binary)
    test_bad_header(binary)
    test_eof(binary)
    test_bad_args(binary)
    print("all passed" if failures == 0 else f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
