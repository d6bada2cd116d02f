/* tickwire TLS shims: an OpenSSL client session on a non-blocking socket, driven from Python (handshake, reads)
 * and from the compiled hot pass (writes, by an integer handle). Every function returns an int or a count, or
 * -errno (-EAGAIN when OpenSSL wants the socket to be readable or writable again); nothing here blocks. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* A TLS handle for tw_out_write: the SSL pointer with this bit set (user-space pointers stay below 2^47, file
 * descriptors below 2^31, so the two never meet). */
#define TW_TLS_TAG (1LL << 62)

int64_t tw_send(int fd, void *buf, int64_t len); /* native.c */

/* A client context: TLS 1.2+, certificate verification on, trusting `cafile` when given, else the system CA
 * store. kTLS is asked for (the kernel takes over record encryption where it has the `tls` module). */
void *tw_tls_ctx_new(const char *cafile) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int ok = (cafile != NULL && cafile[0]) ? SSL_CTX_load_verify_locations(ctx, cafile, NULL)
                                            : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
#ifdef SSL_OP_ENABLE_KTLS
    SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
#endif
    /* SSL_write returns what whole records it wrote (like send) and may be retried from another buffer
     * holding the same bytes (the driver's queue after a partial write of the hot pass). */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ctx;
}

void tw_tls_ctx_free(void *ctx) { SSL_CTX_free((SSL_CTX *)ctx); }

/* A session on connected socket `fd` for `host` (SNI, and the name or IP address the certificate must show). */
void *tw_tls_new(void *ctx, int fd, const char *host, int host_is_ip) {
    SSL *ssl = SSL_new((SSL_CTX *)ctx);
    if (ssl == NULL) return NULL;
    int ok = SSL_set_fd(ssl, fd);
    if (ok == 1 && host_is_ip) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
    } else if (ok == 1) {
        ok = SSL_set_tlsext_host_name(ssl, host) == 1 && SSL_set1_host(ssl, host) == 1;
    }
    if (ok != 1) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_connect_state(ssl);
    return ssl;
}

void tw_tls_free(void *ssl) { SSL_free((SSL *)ssl); }

static int64_t io_result(SSL *ssl, int r) {
    switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        return errno ? -errno : -EPIPE;
    default:
        return -EPROTO;
    }
}

/* 1 once the handshake is done, -EAGAIN while it needs the socket, another -errno when it failed
 * (tw_tls_verify_result / tw_tls_error_string say why). */
int tw_tls_handshake(void *ssl) {
    ERR_clear_error();
    int r = SSL_do_handshake((SSL *)ssl);
    if (r == 1) return 1;
    int64_t e = io_result((SSL *)ssl, r);
    return (int)(e == 0 ? -EPROTO : e);
}

/* 1 when the hot path may write with SSL_write (0: OpenSSL must poll for reading first). */
int tw_tls_want_read(void *ssl) { return SSL_want_read((SSL *)ssl); }

long tw_tls_verify_result(void *ssl) { return SSL_get_verify_result((SSL *)ssl); }

const char *tw_tls_verify_string(long code) { return X509_verify_cert_error_string(code); }

/* The oldest queued OpenSSL error as text into buf (empty when there is none); clears the queue. */
void tw_tls_error_string(char *buf, int len) {
    unsigned long e = ERR_get_error();
    buf[0] = 0;
    if (e) ERR_error_string_n(e, buf, (size_t)len);
    ERR_clear_error();
}

const char *tw_tls_version(void *ssl) { return SSL_get_version((SSL *)ssl); }
const char *tw_tls_cipher(void *ssl) { return SSL_get_cipher_name((SSL *)ssl); }

/* 1 when the kernel encrypts what is written to the socket (kTLS transmit): the hot path may then send() on the
 * descriptor itself. */
int tw_tls_ktls_send(void *ssl) {
#ifndef OPENSSL_NO_KTLS
    return BIO_get_ktls_send(SSL_get_wbio((SSL *)ssl)) ? 1 : 0;
#else
    (void)ssl;
    return 0;
#endif
}

/* Bytes written (whole records), -EAGAIN, or -errno. */
int64_t tw_tls_write(void *ssl, void *buf, int64_t len) {
    if (len <= 0) return 0;
    ERR_clear_error();
    int n = SSL_write((SSL *)ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    return n > 0 ? n : io_result((SSL *)ssl, n);
}

/* Plaintext bytes read, 0 when the peer closed the session, -EAGAIN when there is nothing yet, or -errno. */
int64_t tw_tls_read(void *ssl, void *buf, int64_t len) {
    ERR_clear_error();
    int n = SSL_read((SSL *)ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    return n > 0 ? n : io_result((SSL *)ssl, n);
}

int tw_tls_pending(void *ssl) { return SSL_pending((SSL *)ssl); }

/* Best-effort close_notify (no waiting for the peer's). */
void tw_tls_shutdown(void *ssl) {
    ERR_clear_error();
    SSL_shutdown((SSL *)ssl);
    ERR_clear_error();
}

int64_t tw_tls_handle(void *ssl) { return (int64_t)(intptr_t)ssl | TW_TLS_TAG; }

/* The hot pass's one way out: `out` is a socket descriptor (send) or a tw_tls_handle (SSL_write). */
int64_t tw_out_write(int64_t out, void *buf, int64_t len) {
    if (out & TW_TLS_TAG) return tw_tls_write((void *)(intptr_t)(out & ~TW_TLS_TAG), buf, len);
    return tw_send((int)out, buf, len);
}
