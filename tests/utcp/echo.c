/* The ping-pong peer of the userspace-stack round-trip benchmark: a blocking TCP echo server (TCP_NODELAY).
 * Usage: echo IP PORT SECONDS. Serves connections one after another until SECONDS have passed; prints
 * LISTENING once bound. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    int srv = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    inet_pton(AF_INET, argv[1], &addr.sin_addr);
    setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(srv, (struct sockaddr *)&addr, sizeof(addr)) || listen(srv, 4))
        return perror("bind/listen"), 1;
    struct timeval tv = {.tv_sec = 1};
    setsockopt(srv, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    printf("LISTENING\n");
    fflush(stdout);
    time_t end = time(NULL) + atoi(argv[3]);
    char buf[65536];
    while (time(NULL) < end) {
        int c = accept(srv, NULL, NULL);
        if (c < 0)
            continue;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        while (time(NULL) < end) {
            ssize_t n = recv(c, buf, sizeof(buf), 0);
            if (n == 0 || (n < 0 && time(NULL) >= end))
                break;
            if (n < 0)
                continue;
            for (ssize_t off = 0; off < n;) {
                ssize_t k = send(c, buf + off, n - off, 0);
                if (k <= 0)
                    break;
                off += k;
            }
        }
        close(c);
    }
    return 0;
}
