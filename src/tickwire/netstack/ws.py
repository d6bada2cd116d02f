"""WebSocket (RFC 6455) framing in compiled code: a stream deframer and a frame encoder.

Deframer model (zero copy for whole frames): the deframer owns a receive buffer ``rx`` (uint8, ``new_rx(cap)``)
and a state array ``st`` (int64, ``new_state(...)``). Bytes are written into ``rx`` at ``ws_reserve(st, rx, n)``
(by a ``recv`` into ``rx[off:]``, or by ``ws_push`` which copies), then ``ws_feed(st, rx, n, spans, ctrl)``
parses every complete frame and writes one row per complete message into ``spans`` (int64, shape ``(k, 4)``):

    spans[i] = (src, offset, length, opcode)   src SRC_RX: the bytes are rx[offset:offset+length]
                                                 src SRC_CTRL: ctrl[offset:offset+length] (a control frame that
                                                 arrived between the fragments of a message)

A span is valid until the next ``ws_reserve``/``ws_push`` on the same state (that may compact ``rx``): use it
in the same callback, as picows does. Masked payloads are unmasked in place; the fragments of a message are
moved together in place, so a reassembled message is one span as well.

Phases: ``PH_HTTP`` skips the HTTP upgrade request/response (up to the blank line); ``PH_FRAMES`` parses frames;
``PH_HUNT`` (after ``ws_resync``, e.g. a TCP gap, or a stream captured mid-connection) scans for the next
plausible frame boundary: a FIN text/binary header (or a first fragment) whose mask bit matches the direction,
whose text payload starts like JSON (``{`` or ``[``) and which is followed by another valid header or by the end
of the data; ``PH_CLOSED`` after a close frame or a protocol error (``st[S_ERR]`` holds ``ERR_*``).
"""
from __future__ import annotations

import numpy as np
from numba import njit

# Opcodes
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
SRC_RX, SRC_CTRL = 0, 1
PH_HTTP, PH_FRAMES, PH_HUNT, PH_CLOSED = 0, 1, 2, 3
MASK_ANY, MASK_NO, MASK_YES = -1, 0, 1  # expected mask bit: server->client frames are unmasked
(ERR_NONE, ERR_RSV, ERR_OPCODE, ERR_CONTROL, ERR_CONTINUATION, ERR_MASK, ERR_TOO_LARGE, ERR_HTTP,
 ERR_LENGTH) = range(9)
ERR_NAMES = ("none", "rsv bits set", "reserved opcode", "bad control frame", "bad continuation",
             "mask bit does not match the direction", "message larger than the receive buffer",
             "no HTTP upgrade end within 16 KiB", "64-bit payload length with the top bit set")
CTRL_CAP = 4096
HTTP_MAX = 16384

# State layout (int64 array)
S_RPOS, S_WPOS, S_PHASE, S_ERR, S_MASK = 0, 1, 2, 3, 4
S_FRAG_OP, S_FRAG_START, S_FRAG_LEN, S_CTRL_FILL = 5, 6, 7, 8
S_MSGS, S_FRAMES, S_CTRL_FRAMES, S_RESYNCS, S_SKIPPED, S_BYTES = 9, 10, 11, 12, 13, 14
STATE_LEN = 16
STAT_NAMES = {S_MSGS: "messages", S_FRAMES: "frames", S_CTRL_FRAMES: "control_frames", S_RESYNCS: "resyncs",
              S_SKIPPED: "skipped_bytes", S_BYTES: "bytes"}


def new_state(phase: int = PH_FRAMES, mask: int = MASK_ANY) -> np.ndarray:
    """A fresh deframer state: ``phase`` PH_HTTP (stream starts with the upgrade), PH_FRAMES or PH_HUNT."""
    st = np.zeros(STATE_LEN, dtype=np.int64)
    ws_init(st, phase, mask)
    return st


def new_rx(cap: int = 1 << 20) -> np.ndarray:
    """A receive buffer; the largest message must fit in it."""
    return np.zeros(cap, dtype=np.uint8)


def new_spans(n: int = 256) -> np.ndarray:
    """Output rows (src, offset, length, opcode) for up to ``n`` messages per feed."""
    return np.zeros((n, 4), dtype=np.int64)


def new_ctrl() -> np.ndarray:
    """Scratch for control frames that arrive between fragments."""
    return np.zeros(CTRL_CAP, dtype=np.uint8)


@njit(cache=True, _nrt=False)
def ws_init(st, phase, mask):
    """Reset a state (a new connection)."""
    st[:] = 0
    st[S_PHASE] = phase
    st[S_MASK] = mask


@njit(cache=True, _nrt=False)
def ws_resync(st):
    """Data was lost before the next bytes: drop the partial frame/message and hunt for the next boundary."""
    if st[S_PHASE] == PH_CLOSED:
        return
    st[S_SKIPPED] += st[S_WPOS] - st[S_RPOS]
    st[S_RPOS] = st[S_WPOS]
    st[S_FRAG_OP] = 0
    st[S_FRAG_LEN] = 0
    st[S_PHASE] = PH_HUNT
    st[S_RESYNCS] += 1


@njit(cache=True, _nrt=False)
def ws_reserve(st, rx, n):
    """Offset in rx where ``n`` new bytes may be written (compacting the kept tail to the front when needed);
    -1 when they do not fit even then. Invalidates the spans of the previous feed."""
    keep = st[S_FRAG_START] if st[S_FRAG_OP] != 0 else st[S_RPOS]
    if st[S_WPOS] + n <= rx.shape[0] and keep < (rx.shape[0] >> 1):
        return st[S_WPOS]
    tail = st[S_WPOS] - keep
    if tail + n > rx.shape[0]:
        return -1
    if keep > 0:
        for i in range(tail):  # forward move, destination below source
            rx[i] = rx[keep + i]
        st[S_RPOS] -= keep
        st[S_WPOS] -= keep
        if st[S_FRAG_OP] != 0:
            st[S_FRAG_START] -= keep
    return st[S_WPOS]


@njit(cache=True, _nrt=False)
def _header(rx, p, end, st):
    """Parse a frame header at p. Returns (header_len, payload_len, opcode, fin, masked) or header_len 0 when
    more bytes are needed, -1 on a protocol error (st[S_ERR] set when st is given a live error)."""
    if end - p < 2:
        return 0, 0, 0, 0, 0
    b0 = rx[p]
    b1 = rx[p + 1]
    fin = (b0 >> 7) & 1
    op = b0 & 0x0F
    masked = (b1 >> 7) & 1
    ln = np.int64(b1 & 0x7F)
    hl = 2
    if ln == 126:
        if end - p < 4:
            return 0, 0, 0, 0, 0
        ln = (np.int64(rx[p + 2]) << 8) | np.int64(rx[p + 3])
        hl = 4
    elif ln == 127:
        if end - p < 10:
            return 0, 0, 0, 0, 0
        if rx[p + 2] & 0x80:  # RFC 6455 5.2: the most significant bit MUST be 0
            st[S_ERR] = ERR_LENGTH
            return -1, 0, op, fin, masked
        ln = 0
        for k in range(8):
            ln = (ln << 8) | np.int64(rx[p + 2 + k])
        hl = 10
    if ln > rx.shape[0]:  # bounded before any arithmetic: header_len + ln can no longer wrap
        st[S_ERR] = ERR_TOO_LARGE
        return -1, 0, op, fin, masked
    if masked:
        hl += 4
    if end - p < hl:
        return 0, 0, 0, 0, 0
    if b0 & 0x70:
        st[S_ERR] = ERR_RSV
        return -1, ln, op, fin, masked
    if op >= 8:
        if op > OP_PONG or not fin or ln > 125:
            st[S_ERR] = ERR_CONTROL if op <= OP_PONG else ERR_OPCODE
            return -1, ln, op, fin, masked
    elif op > OP_BINARY:
        st[S_ERR] = ERR_OPCODE
        return -1, ln, op, fin, masked
    if st[S_MASK] != MASK_ANY and masked != st[S_MASK]:
        st[S_ERR] = ERR_MASK
        return -1, ln, op, fin, masked
    return hl, ln, op, fin, masked


@njit(cache=True, _nrt=False)
def _unmask(rx, p, n, kp):
    k0 = rx[kp]
    k1 = rx[kp + 1]
    k2 = rx[kp + 2]
    k3 = rx[kp + 3]
    i = 0
    while i + 4 <= n:
        rx[p + i] ^= k0
        rx[p + i + 1] ^= k1
        rx[p + i + 2] ^= k2
        rx[p + i + 3] ^= k3
        i += 4
    while i < n:
        rx[p + i] ^= rx[kp + (i & 3)]
        i += 1


@njit(cache=True, _nrt=False)
def _find_http_end(rx, p, end):
    for i in range(p, end - 3):
        if rx[i] == 13 and rx[i + 1] == 10 and rx[i + 2] == 13 and rx[i + 3] == 10:
            return i + 4
    return -1


@njit(cache=True, _nrt=False)
def _plausible(st, rx, q, end, cap):
    """Hunting: 1 when a frame starting at q looks like a real boundary, 0 when not, 2 when more data is needed."""
    b0 = rx[q]
    if b0 not in (0x81, 0x82, 0x01, 0x02):
        return 0
    if end - q < 2:
        return 2
    masked = (rx[q + 1] >> 7) & 1
    if st[S_MASK] != MASK_ANY and masked != st[S_MASK]:
        return 0
    saved = st[S_ERR]
    hl, ln, op, fin, m = _header(rx, q, end, st)
    st[S_ERR] = saved
    if hl == 0:
        return 2
    if hl < 0 or ln > cap // 2:
        return 0
    if end - q < hl + ln:
        return 2
    if op == OP_TEXT and ln > 0:
        c = rx[q + hl]
        if masked:
            c ^= rx[q + hl - 4]
        if c != 0x7B and c != 0x5B:  # '{' or '['
            return 0
    nxt = q + hl + ln
    if nxt == end:
        return 1
    b = rx[nxt]
    if b & 0x70 or (b & 0x0F) not in (0, 1, 2, 8, 9, 10):
        return 0
    if end - nxt >= 2 and st[S_MASK] != MASK_ANY and ((rx[nxt + 1] >> 7) & 1) != st[S_MASK]:
        return 0
    return 1


@njit(cache=True, _nrt=False)
def _emit(spans, ns, src, off, ln, op):
    spans[ns, 0] = src
    spans[ns, 1] = off
    spans[ns, 2] = ln
    spans[ns, 3] = op
    return ns + 1


@njit(cache=True, _nrt=False)
def ws_feed(st, rx, n, spans, ctrl):
    """``n`` new bytes were written at ``rx[ws_reserve(...)]``: parse every complete frame, write one span row per
    complete message (data or control) and return how many. When it returns ``len(spans)`` there may be more:
    call again with ``n = 0``."""
    st[S_WPOS] += n
    st[S_BYTES] += n
    end = st[S_WPOS]
    cap = rx.shape[0]
    ns = 0
    st[S_CTRL_FILL] = 0  # the previous feed's spans have been consumed
    while ns < spans.shape[0]:
        p = st[S_RPOS]
        ph = st[S_PHASE]
        if ph == PH_CLOSED:
            st[S_RPOS] = end
            break
        if ph == PH_HTTP:
            if end - p < 4:
                break
            is_http = (rx[p] == 71 and rx[p + 1] == 69 and rx[p + 2] == 84 and rx[p + 3] == 32) or (
                rx[p] == 72 and rx[p + 1] == 84 and rx[p + 2] == 84 and rx[p + 3] == 80)  # "GET " / "HTTP"
            if not is_http:
                st[S_PHASE] = PH_HUNT
                continue
            e = _find_http_end(rx, p, end)
            if e < 0:
                if end - p > HTTP_MAX:
                    st[S_ERR] = ERR_HTTP
                    st[S_PHASE] = PH_CLOSED
                break
            st[S_RPOS] = e
            st[S_PHASE] = PH_FRAMES
            continue
        if ph == PH_HUNT:
            q = p
            verdict = 0
            while q < end:
                verdict = _plausible(st, rx, q, end, cap)
                if verdict != 0:
                    break
                q += 1
            st[S_SKIPPED] += q - p
            st[S_RPOS] = q
            if verdict == 1:
                st[S_PHASE] = PH_FRAMES
                continue
            break
        hl, ln, op, fin, masked = _header(rx, p, end, st)
        if hl == 0:
            break
        if hl < 0:
            st[S_PHASE] = PH_CLOSED
            continue
        total = hl + ln
        keep = st[S_FRAG_START] if st[S_FRAG_OP] != 0 else p
        if p - keep + total > cap:
            st[S_ERR] = ERR_TOO_LARGE
            st[S_PHASE] = PH_CLOSED
            continue
        if end - p < total:
            break
        pay = p + hl
        if masked:
            _unmask(rx, pay, ln, pay - 4)
        st[S_FRAMES] += 1
        st[S_RPOS] = p + total
        if op >= 8:
            st[S_CTRL_FRAMES] += 1
            if st[S_FRAG_OP] != 0:
                c = st[S_CTRL_FILL]
                if c + ln > ctrl.shape[0]:
                    st[S_ERR] = ERR_CONTROL
                    st[S_PHASE] = PH_CLOSED
                    continue
                for i in range(ln):
                    ctrl[c + i] = rx[pay + i]
                st[S_CTRL_FILL] = c + ln
                ns = _emit(spans, ns, SRC_CTRL, c, ln, op)
            else:
                ns = _emit(spans, ns, SRC_RX, pay, ln, op)
            if op == OP_CLOSE:
                st[S_PHASE] = PH_CLOSED
            continue
        if op == OP_CONT:
            if st[S_FRAG_OP] == 0:
                st[S_ERR] = ERR_CONTINUATION
                st[S_PHASE] = PH_CLOSED
                continue
            dst = st[S_FRAG_START] + st[S_FRAG_LEN]
            for i in range(ln):  # forward move: dst < pay
                rx[dst + i] = rx[pay + i]
            st[S_FRAG_LEN] += ln
            if fin:
                ns = _emit(spans, ns, SRC_RX, st[S_FRAG_START], st[S_FRAG_LEN], st[S_FRAG_OP])
                st[S_MSGS] += 1
                st[S_FRAG_OP] = 0
            continue
        if st[S_FRAG_OP] != 0:
            st[S_ERR] = ERR_CONTINUATION
            st[S_PHASE] = PH_CLOSED
            continue
        if fin:
            ns = _emit(spans, ns, SRC_RX, pay, ln, op)
            st[S_MSGS] += 1
        else:
            st[S_FRAG_OP] = op
            st[S_FRAG_START] = pay
            st[S_FRAG_LEN] = ln
    return ns


@njit(cache=True, _nrt=False)
def ws_push(st, rx, data, off, n, spans, ctrl):
    """Copy ``data[off:off+n]`` into rx and feed it (the path for bytes that arrive in another buffer: TCP
    reassembly, an asyncio ``data_received``). Returns the number of spans, or -1 when the bytes do not fit."""
    w = ws_reserve(st, rx, n)
    if w < 0:
        st[S_ERR] = ERR_TOO_LARGE
        st[S_PHASE] = PH_CLOSED
        return -1
    for i in range(n):  # explicit loop: no numba-runtime temporaries on the hot path
        rx[w + i] = data[off + i]
    return ws_feed(st, rx, n, spans, ctrl)


@njit(cache=True, _nrt=False)
def ws_frame_len(n, masked):
    """Bytes an encoded frame with an ``n``-byte payload takes."""
    hl = 2 if n < 126 else (4 if n < 65536 else 10)
    return hl + (4 if masked else 0) + n


@njit(cache=True, _nrt=False)
def ws_encode(out, o, payload, p, n, opcode, fin, masked, key):
    """Write one frame (header + payload, masked with the 32-bit ``key`` when ``masked``) at ``out[o:]``;
    returns the frame length, or -1 when ``out`` is too small. Clients MUST mask (RFC 6455 5.3) with a fresh,
    unpredictable key per frame: the caller supplies it (``new_mask_key``)."""
    total = ws_frame_len(n, masked)
    if o + total > out.shape[0]:
        return -1
    out[o] = np.uint8((0x80 if fin else 0) | (opcode & 0x0F))
    mbit = 0x80 if masked else 0
    q = o + 2
    if n < 126:
        out[o + 1] = np.uint8(mbit | n)
    elif n < 65536:
        out[o + 1] = np.uint8(mbit | 126)
        out[o + 2] = np.uint8(n >> 8)
        out[o + 3] = np.uint8(n & 0xFF)
        q = o + 4
    else:
        out[o + 1] = np.uint8(mbit | 127)
        for k in range(8):
            out[o + 2 + k] = np.uint8((n >> (56 - 8 * k)) & 0xFF)
        q = o + 10
    if masked:
        for k in range(4):
            out[q + k] = np.uint8((key >> (24 - 8 * k)) & 0xFF)
        for i in range(n):
            out[q + 4 + i] = payload[p + i] ^ out[q + (i & 3)]
    else:
        for i in range(n):
            out[q + i] = payload[p + i]
    return total


def new_mask_key() -> int:
    """A fresh 32-bit masking key from the OS CSPRNG (call on the slow path; keep a pool for the hot path)."""
    import os

    return int.from_bytes(os.urandom(4), "big")


class Deframer:
    """Python convenience over the compiled deframer (tests, slow paths): ``feed(bytes) -> [(opcode, bytes)]``."""

    def __init__(self, phase: int = PH_FRAMES, mask: int = MASK_ANY, cap: int = 1 << 20) -> None:
        self.st = new_state(phase, mask)
        self.rx = new_rx(cap)
        self.spans = new_spans()
        self.ctrl = new_ctrl()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = np.frombuffer(data, dtype=np.uint8)
        out: list[tuple[int, bytes]] = []
        ns = ws_push(self.st, self.rx, buf, 0, len(buf), self.spans, self.ctrl)
        while ns > 0:
            for src, off, ln, op in self.spans[:ns]:
                area = self.rx if src == SRC_RX else self.ctrl
                out.append((int(op), area[off:off + ln].tobytes()))
            if ns < len(self.spans):
                break
            ns = ws_feed(self.st, self.rx, 0, self.spans, self.ctrl)
        return out

    @property
    def error(self) -> str | None:
        return ERR_NAMES[int(self.st[S_ERR])] if self.st[S_ERR] else None

    @property
    def stats(self) -> dict[str, int]:
        return {name: int(self.st[i]) for i, name in STAT_NAMES.items()}


# ---------------------------------------------------------------------------------------------------------------
# Reference twins (plain Python, whole stream at once): the tests compare the compiled code with these.

def ref_encode(payload: bytes, opcode: int, fin: bool = True, key: int | None = None) -> bytes:
    """Encode one frame (masked when ``key`` is given)."""
    n = len(payload)
    head = bytearray([(0x80 if fin else 0) | opcode])
    mbit = 0x80 if key is not None else 0
    if n < 126:
        head.append(mbit | n)
    elif n < 65536:
        head += bytes([mbit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([mbit | 127]) + n.to_bytes(8, "big")
    if key is None:
        return bytes(head) + payload
    k = key.to_bytes(4, "big")
    return bytes(head) + k + bytes(b ^ k[i % 4] for i, b in enumerate(payload))


def ref_deframe(stream: bytes) -> list[tuple[int, bytes]]:
    """Every complete message of a frame stream (HTTP upgrade skipped), control frames in arrival order."""
    if stream[:4] in (b"GET ", b"HTTP"):
        stream = stream[stream.index(b"\r\n\r\n") + 4:]
    out: list[tuple[int, bytes]] = []
    pos, frag_op, frag = 0, 0, b""
    while pos + 2 <= len(stream):
        b0, b1 = stream[pos], stream[pos + 1]
        n, hl = b1 & 0x7F, 2
        if n == 126:
            n, hl = int.from_bytes(stream[pos + 2:pos + 4], "big"), 4
        elif n == 127:
            n, hl = int.from_bytes(stream[pos + 2:pos + 10], "big"), 10
        key = stream[pos + hl:pos + hl + 4] if b1 & 0x80 else None
        hl += 4 if key else 0
        if pos + hl + n > len(stream):
            break
        payload = stream[pos + hl:pos + hl + n]
        if key:
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        pos += hl + n
        op, fin = b0 & 0x0F, b0 & 0x80
        if op >= 8:
            out.append((op, payload))
        elif op == OP_CONT:
            frag += payload
            if fin:
                out.append((frag_op, frag))
                frag_op, frag = 0, b""
        elif fin:
            out.append((op, payload))
        else:
            frag_op, frag = op, payload
    return out
