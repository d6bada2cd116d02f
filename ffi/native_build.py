"""cffi build script for ``tickwire._tw_native`` (API / out-of-line mode).

Every shim takes and returns plain integers, doubles or ``void*`` so that numba ``@njit`` code can call it
(numba maps neither ``uintptr_t`` nor typed struct pointers). Socket helpers return a count or ``-errno``;
they never raise, so the compiled hot path can branch on the result. The TLS shims (tls.c) wrap an OpenSSL
client session; ``tw_out_write`` is the hot pass's single way out (a socket descriptor or a TLS handle).
"""
from pathlib import Path

from cffi import FFI

CDEF = """
uint64_t tw_rdtsc(void);
uint64_t tw_rdtscp(void);
int64_t tw_clock_ns(int clock_id);
int64_t tw_monotonic_ns(void);
int64_t tw_realtime_ns(void);
double tw_tsc_calibrate_hz(int64_t window_ns);

int64_t tw_recv(int fd, void *buf, int64_t len);
int64_t tw_send(int fd, void *buf, int64_t len);
int tw_wait_readable(int fd, int timeout_ms);
int tw_enable_rx_timestamps(int fd);
int64_t tw_recv_ts(int fd, void *buf, int64_t len, void *rx_ns);

int tw_set_nodelay(int fd, int on);
int tw_set_quickack(int fd, int on);
int tw_set_busy_poll(int fd, int usec);
int tw_set_rcvbuf(int fd, int bytes);
int tw_set_sndbuf(int fd, int bytes);
int tw_get_sockopt_int(int fd, int level, int optname);

int tw_set_affinity_mask(uint64_t mask);
int64_t tw_get_affinity_mask(void);
int tw_getcpu(void);
int tw_mlockall(void);
int tw_munlockall(void);

uint64_t tw_atomic_load_acquire(void *p);
void tw_atomic_store_release(void *p, uint64_t value);
int tw_atomic_cas(void *p, uint64_t expected, uint64_t desired);
uint64_t tw_atomic_fetch_add(void *p, uint64_t delta);

int tw_flag_on_signal(int sig, void *flag);

void *tw_tls_ctx_new(const char *cafile);
void tw_tls_ctx_free(void *ctx);
void *tw_tls_new(void *ctx, int fd, const char *host, int host_is_ip);
void tw_tls_free(void *ssl);
int tw_tls_handshake(void *ssl);
int tw_tls_want_read(void *ssl);
long tw_tls_verify_result(void *ssl);
const char *tw_tls_verify_string(long code);
void tw_tls_error_string(char *buf, int len);
const char *tw_tls_version(void *ssl);
const char *tw_tls_cipher(void *ssl);
int tw_tls_ktls_send(void *ssl);
int64_t tw_tls_write(void *ssl, void *buf, int64_t len);
int64_t tw_tls_read(void *ssl, void *buf, int64_t len);
int tw_tls_pending(void *ssl);
void tw_tls_shutdown(void *ssl);
int64_t tw_tls_handle(void *ssl);
int64_t tw_out_write(int64_t out, void *buf, int64_t len);

#define TW_CLOCK_REALTIME ...
#define TW_CLOCK_MONOTONIC ...
#define TW_SOL_SOCKET ...
#define TW_IPPROTO_TCP ...
#define TW_TCP_NODELAY ...
#define TW_TCP_QUICKACK ...
#define TW_SO_BUSY_POLL ...
#define TW_SO_RCVBUF ...
#define TW_SO_SNDBUF ...
#define TW_EAGAIN ...
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "tickwire._tw_native",
    # one translation unit: the TLS shims (OpenSSL's libssl, Debian libssl-dev) call tw_send of native.c
    (Path(__file__).parent / "native.c").read_text() + (Path(__file__).parent / "tls.c").read_text(),
    libraries=["ssl", "crypto"],
    extra_compile_args=["-O2", "-Wall"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
