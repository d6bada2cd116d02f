/* tickwire native shims: timestamp counter, clocks, raw socket I/O, socket options, affinity, atomics. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#define TW_CLOCK_REALTIME CLOCK_REALTIME
#define TW_CLOCK_MONOTONIC CLOCK_MONOTONIC
#define TW_SOL_SOCKET SOL_SOCKET
#define TW_IPPROTO_TCP IPPROTO_TCP
#define TW_TCP_NODELAY TCP_NODELAY
#define TW_TCP_QUICKACK TCP_QUICKACK
#ifndef SO_BUSY_POLL
#define SO_BUSY_POLL 46
#endif
#define TW_SO_BUSY_POLL SO_BUSY_POLL
#define TW_SO_RCVBUF SO_RCVBUF
#define TW_SO_SNDBUF SO_SNDBUF
#define TW_EAGAIN EAGAIN

int64_t tw_clock_ns(int clock_id) {
    struct timespec ts;
    if (clock_gettime((clockid_t)clock_id, &ts) != 0) return -errno;
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
int64_t tw_monotonic_ns(void) { return tw_clock_ns(CLOCK_MONOTONIC); }
int64_t tw_realtime_ns(void) { return tw_clock_ns(CLOCK_REALTIME); }

/* Without an x86 TSC, fall back to CLOCK_MONOTONIC in ns (calibration then returns 1e9). */
uint64_t tw_rdtsc(void) {
#if defined(__x86_64__) || defined(__i386__)
    return __rdtsc();
#else
    return (uint64_t)tw_monotonic_ns();
#endif
}

/* rdtscp waits for earlier instructions to retire: use it for the end stamp of a measured region. */
uint64_t tw_rdtscp(void) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned int aux;
    return __rdtscp(&aux);
#else
    return (uint64_t)tw_monotonic_ns();
#endif
}

/* TSC ticks per second, measured against CLOCK_MONOTONIC over window_ns (spinning, not sleeping,
 * so that a descheduled sleep does not skew the pair of reads). */
double tw_tsc_calibrate_hz(int64_t window_ns) {
    int64_t t0 = tw_monotonic_ns();
    uint64_t c0 = tw_rdtsc();
    int64_t t1 = t0;
    while (t1 - t0 < window_ns) t1 = tw_monotonic_ns();
    uint64_t c1 = tw_rdtscp();
    return (double)(c1 - c0) * 1e9 / (double)(t1 - t0);
}

int64_t tw_recv(int fd, void *buf, int64_t len) {
    ssize_t n = recv(fd, buf, (size_t)len, MSG_DONTWAIT);
    return n < 0 ? -errno : (int64_t)n;
}

int64_t tw_send(int fd, void *buf, int64_t len) {
    ssize_t n = send(fd, buf, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL);
    return n < 0 ? -errno : (int64_t)n;
}

/* Kernel receive timestamps: SO_TIMESTAMPING with software RX stamps (the time the kernel's stack took the
 * packet, CLOCK_REALTIME). Enable once per socket, then read with tw_recv_ts. */
int tw_enable_rx_timestamps(int fd) {
    int flags = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
    return setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof flags) == 0 ? 0 : -errno;
}

/* Non-blocking recv that also writes the kernel's receive time (CLOCK_REALTIME ns) of the data into
 * *(int64_t *)rx_ns (0 when the kernel attached none, e.g. timestamps not enabled). Returns a count or -errno.
 * On TCP the stamp is that of the last segment the read consumed. */
int64_t tw_recv_ts(int fd, void *buf, int64_t len, void *rx_ns) {
    struct iovec iov = {.iov_base = buf, .iov_len = (size_t)len};
    union {
        char buf[CMSG_SPACE(sizeof(struct scm_timestamping))];
        struct cmsghdr align;
    } control;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    *(int64_t *)rx_ns = 0;
    ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);
    if (n < 0) return -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPING) {
            struct scm_timestamping ts;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            *(int64_t *)rx_ns = (int64_t)ts.ts[0].tv_sec * 1000000000LL + ts.ts[0].tv_nsec;
        }
    }
    return (int64_t)n;
}

/* 1 when readable, 0 on timeout, -errno on error: the blocking half of "spin, then block". */
int tw_wait_readable(int fd, int timeout_ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, timeout_ms);
    return r < 0 ? -errno : r;
}

static int set_int(int fd, int level, int opt, int value) {
    return setsockopt(fd, level, opt, &value, sizeof value) == 0 ? 0 : -errno;
}
int tw_set_nodelay(int fd, int on) { return set_int(fd, IPPROTO_TCP, TCP_NODELAY, on); }
int tw_set_quickack(int fd, int on) { return set_int(fd, IPPROTO_TCP, TCP_QUICKACK, on); }
int tw_set_busy_poll(int fd, int usec) { return set_int(fd, SOL_SOCKET, SO_BUSY_POLL, usec); }
int tw_set_rcvbuf(int fd, int bytes) { return set_int(fd, SOL_SOCKET, SO_RCVBUF, bytes); }
int tw_set_sndbuf(int fd, int bytes) { return set_int(fd, SOL_SOCKET, SO_SNDBUF, bytes); }

int tw_get_sockopt_int(int fd, int level, int optname) {
    int value = 0;
    socklen_t len = sizeof value;
    return getsockopt(fd, level, optname, &value, &len) == 0 ? value : -errno;
}

/* Affinity of the calling thread, as a bit mask of the first 64 CPUs. */
int tw_set_affinity_mask(uint64_t mask) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu = 0; cpu < 64; cpu++)
        if (mask & (1ULL << cpu)) CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : -errno;
}

int64_t tw_get_affinity_mask(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -errno;
    int64_t mask = 0;
    for (int cpu = 0; cpu < 63; cpu++)
        if (CPU_ISSET(cpu, &set)) mask |= (int64_t)1 << cpu;
    return mask;
}

int tw_getcpu(void) {
    int cpu = sched_getcpu();
    return cpu < 0 ? -errno : cpu;
}

int tw_mlockall(void) { return mlockall(MCL_CURRENT | MCL_FUTURE) == 0 ? 0 : -errno; }
int tw_munlockall(void) { return munlockall() == 0 ? 0 : -errno; }

/* 64-bit atomics on an 8-byte aligned address (e.g. a slot of a numpy uint64 array in shared memory). */
uint64_t tw_atomic_load_acquire(void *p) { return __atomic_load_n((uint64_t *)p, __ATOMIC_ACQUIRE); }
void tw_atomic_store_release(void *p, uint64_t value) { __atomic_store_n((uint64_t *)p, value, __ATOMIC_RELEASE); }
int tw_atomic_cas(void *p, uint64_t expected, uint64_t desired) {
    return __atomic_compare_exchange_n((uint64_t *)p, &expected, desired, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}
uint64_t tw_atomic_fetch_add(void *p, uint64_t delta) { return __atomic_fetch_add((uint64_t *)p, delta, __ATOMIC_ACQ_REL); }

/* A signal that must reach a compiled loop: the handler stores 1 into *flag (the loop polls it), then runs the
   handler that was installed before (Python's, which schedules the Python-level handler). flag NULL: stop
   storing (the handler keeps chaining). The flag must stay valid while it is armed. */
#define TW_MAX_SIGNAL 65
static void *volatile tw_signal_flag[TW_MAX_SIGNAL];
static struct sigaction tw_signal_prev[TW_MAX_SIGNAL];

static void tw_flag_handler(int sig, siginfo_t *info, void *ctx) {
    void *flag = tw_signal_flag[sig];
    if (flag != NULL) __atomic_store_n((uint64_t *)flag, 1, __ATOMIC_RELEASE);
    struct sigaction *prev = &tw_signal_prev[sig];
    if (prev->sa_flags & SA_SIGINFO) {
        if (prev->sa_sigaction != NULL) prev->sa_sigaction(sig, info, ctx);
    } else if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN && prev->sa_handler != NULL) {
        prev->sa_handler(sig);
    }
}

int tw_flag_on_signal(int sig, void *flag) {
    if (sig <= 0 || sig >= TW_MAX_SIGNAL) return -EINVAL;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = tw_flag_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, NULL, &old) != 0) return -errno;
    if (!((old.sa_flags & SA_SIGINFO) && old.sa_sigaction == tw_flag_handler)) tw_signal_prev[sig] = old;
    tw_signal_flag[sig] = flag;
    return sigaction(sig, &sa, NULL) == 0 ? 0 : -errno;
}
