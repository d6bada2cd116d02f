/* Kernel TCP side of the round-trip benchmark: N round trips of SIZE bytes to the echo server, each timed with
 * CLOCK_MONOTONIC. MODE "spin": non-blocking socket, recv() polled in a loop (busy polling in user space, plus
 * SO_BUSY_POLL); "block": a blocking recv(). Usage: pingpong IP PORT SIZE N WARMUP MODE; prints one line of
 * round-trip times in ns (the timed N, after WARMUP untimed ones). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 7)
        return 2;
    int size = atoi(argv[3]), n = atoi(argv[4]), warm = atoi(argv[5]), spin = strcmp(argv[6], "spin") == 0;
    if (size <= 0 || size > 65536 || n <= 0 || warm < 0)
        return 2;
    int s = socket(AF_INET, SOCK_STREAM | (spin ? SOCK_NONBLOCK : 0), 0), one = 1, usec = 50;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    inet_pton(AF_INET, argv[1], &addr.sin_addr);
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (spin)
        setsockopt(s, SOL_SOCKET, SO_BUSY_POLL, &usec, sizeof(usec));
    if (connect(s, (struct sockaddr *)&addr, sizeof(addr)) && errno != EINPROGRESS)
        return perror("connect"), 1;
    char msg[65536], buf[65536];
    memset(msg, 'x', size);
    long long *rtt = calloc(n, sizeof(long long));
    long long give_up = now_ns() + 120000000000LL;
    for (int i = 0; i < warm + n; i++) {
        long long t0 = now_ns();
        int sent = 0, got = 0;
        while (sent < size) {
            ssize_t k = send(s, msg + sent, size - sent, MSG_NOSIGNAL);
            if (k > 0)
                sent += k;
            else if (errno != EAGAIN && errno != ENOTCONN)
                return perror("send"), 1;
            if (now_ns() > give_up)
                return fprintf(stderr, "timed out\n"), 1;
        }
        while (got < size) {
            ssize_t k = recv(s, buf, size - got, 0);
            if (k > 0)
                got += k;
            else if (k == 0 || errno != EAGAIN)
                return perror("recv"), 1;
            if (now_ns() > give_up)
                return fprintf(stderr, "timed out\n"), 1;
        }
        if (i >= warm)
            rtt[i - warm] = now_ns() - t0;
    }
    for (int i = 0; i < n; i++)
        printf("%lld%c", rtt[i], i + 1 < n ? ' ' : '\n');
    close(s);
    return 0;
}
