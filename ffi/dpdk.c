/* tickwire._tw_dpdk: thin shims over DPDK 22.11 that numba @njit code can call.
 *
 * Every handle crosses the boundary as a plain integer: a port is a uint16_t, a mempool or an mbuf is the
 * uint64_t address of its struct, an mbuf array is the address of a uint64 numpy array. The EAL and ethdev
 * functions return 0 / a count on success and a negative errno on failure, like DPDK itself.
 * rte_eth_rx_burst, rte_eth_tx_burst and rte_pktmbuf_mtod are static inline in DPDK: they exist here as real
 * functions so that cffi (and through it numba) can call them.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>
#include <rte_version.h>

typedef struct rte_mbuf *mbuf_p;

/* ---- EAL ------------------------------------------------------------------------------------------- */

static int tw_eal_ready = 0;

int tw_dpdk_eal_init(int argc, char **argv)
{
    int rc = rte_eal_init(argc, argv);
    if (rc < 0)
        return -rte_errno;
    tw_eal_ready = 1;
    return rc;
}

int tw_dpdk_eal_ready(void) { return tw_eal_ready; }

int tw_dpdk_eal_cleanup(void)
{
    if (!tw_eal_ready)
        return 0;
    tw_eal_ready = 0;
    return rte_eal_cleanup();
}

const char *tw_dpdk_version(void) { return rte_version(); }
int tw_dpdk_errno(void) { return rte_errno; }
const char *tw_dpdk_strerror(int err) { return rte_strerror(err); }
unsigned tw_dpdk_lcore_id(void) { return rte_lcore_id(); }
int tw_dpdk_socket_id(void) { return (int)rte_socket_id(); }
uint64_t tw_dpdk_tsc_hz(void) { return rte_get_tsc_hz(); }

/* ---- ports ----------------------------------------------------------------------------------------- */

#include "dpdk_types.h"

/* The rx timestamp dynamic field, looked up once a port with the timestamp offload has started. */
static int tw_ts_offset = -1;
static uint64_t tw_ts_flag = 0;

uint16_t tw_dpdk_port_count(void) { return rte_eth_dev_count_avail(); }
int tw_dpdk_port_valid(uint16_t port) { return rte_eth_dev_is_valid_port(port); }

int tw_dpdk_port_by_name(const char *name)
{
    uint16_t port;
    int rc = rte_eth_dev_get_port_by_name(name, &port);
    return rc < 0 ? rc : (int)port;
}

int tw_dpdk_port_info_get(uint16_t port, tw_dpdk_port_info *out)
{
    struct rte_eth_dev_info info;
    struct rte_ether_addr mac;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = rte_eth_dev_info_get(port, &info)) < 0)
        return rc;
    if ((rc = rte_eth_dev_get_name_by_port(port, out->name)) < 0)
        return rc;
    strncpy(out->driver, info.driver_name ? info.driver_name : "", sizeof(out->driver) - 1);
    out->if_index = info.if_index;
    out->min_mtu = info.min_mtu;
    out->max_mtu = info.max_mtu;
    out->max_rx_pktlen = info.max_rx_pktlen;
    out->max_rx_queues = info.max_rx_queues;
    out->max_tx_queues = info.max_tx_queues;
    out->rx_desc_min = info.rx_desc_lim.nb_min;
    out->rx_desc_max = info.rx_desc_lim.nb_max;
    out->tx_desc_min = info.tx_desc_lim.nb_min;
    out->tx_desc_max = info.tx_desc_lim.nb_max;
    out->socket_id = rte_eth_dev_socket_id(port);
    out->rx_offload_capa = info.rx_offload_capa;
    if (rte_eth_macaddr_get(port, &mac) == 0)
        memcpy(out->mac, mac.addr_bytes, 6);
    return 0;
}

/* Configure nb_rxq/nb_txq queues; rx_timestamp asks the PMD to stamp each mbuf (net_pcap: the capture time). */
int tw_dpdk_port_configure(uint16_t port, uint16_t nb_rxq, uint16_t nb_txq, int rx_timestamp)
{
    struct rte_eth_conf conf;
    memset(&conf, 0, sizeof(conf));
    if (rx_timestamp)
        conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_TIMESTAMP;
    return rte_eth_dev_configure(port, nb_rxq, nb_txq, &conf);
}

int tw_dpdk_adjust_desc(uint16_t port, uint16_t *nb_rx, uint16_t *nb_tx)
{
    return rte_eth_dev_adjust_nb_rx_tx_desc(port, nb_rx, nb_tx);
}

int tw_dpdk_rx_queue_setup(uint16_t port, uint16_t queue, uint16_t nb_desc, uint64_t mempool)
{
    return rte_eth_rx_queue_setup(port, queue, nb_desc, rte_eth_dev_socket_id(port), NULL,
                                  (struct rte_mempool *)(uintptr_t)mempool);
}

int tw_dpdk_tx_queue_setup(uint16_t port, uint16_t queue, uint16_t nb_desc)
{
    return rte_eth_tx_queue_setup(port, queue, nb_desc, rte_eth_dev_socket_id(port), NULL);
}

int tw_dpdk_port_start(uint16_t port)
{
    int rc = rte_eth_dev_start(port);
    if (rc == 0 && tw_ts_offset < 0) {
        int flag_bit = rte_mbuf_dynflag_lookup(RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME, NULL);
        int offset = rte_mbuf_dynfield_lookup(RTE_MBUF_DYNFIELD_TIMESTAMP_NAME, NULL);
        if (flag_bit >= 0 && offset >= 0) {
            tw_ts_offset = offset;
            tw_ts_flag = 1ULL << flag_bit;
        }
    }
    return rc;
}

int tw_dpdk_port_stop(uint16_t port) { return rte_eth_dev_stop(port); }

/* Hot-plug a virtual device after EAL init ("net_pcap1", "rx_pcap=a.pcap"), and remove it again. */
int tw_dpdk_vdev_attach(const char *name, const char *args) { return rte_eal_hotplug_add("vdev", name, args); }
int tw_dpdk_vdev_detach(const char *name) { return rte_eal_hotplug_remove("vdev", name); }
int tw_dpdk_port_close(uint16_t port) { return rte_eth_dev_close(port); }

int tw_dpdk_promiscuous_set(uint16_t port, int on)
{
    return on ? rte_eth_promiscuous_enable(port) : rte_eth_promiscuous_disable(port);
}

int tw_dpdk_promiscuous_get(uint16_t port) { return rte_eth_promiscuous_get(port); }

int tw_dpdk_allmulticast_set(uint16_t port, int on)
{
    return on ? rte_eth_allmulticast_enable(port) : rte_eth_allmulticast_disable(port);
}

int tw_dpdk_mtu_set(uint16_t port, uint16_t mtu) { return rte_eth_dev_set_mtu(port, mtu); }

int tw_dpdk_mtu_get(uint16_t port)
{
    uint16_t mtu;
    int rc = rte_eth_dev_get_mtu(port, &mtu);
    return rc < 0 ? rc : (int)mtu;
}

int tw_dpdk_link_get(uint16_t port, int wait, tw_dpdk_link *out)
{
    struct rte_eth_link link;
    int rc = wait ? rte_eth_link_get(port, &link) : rte_eth_link_get_nowait(port, &link);
    if (rc < 0)
        return rc;
    out->speed_mbps = link.link_speed;
    out->up = link.link_status;
    out->full_duplex = link.link_duplex;
    out->autoneg = link.link_autoneg;
    return 0;
}

int tw_dpdk_stats_get(uint16_t port, tw_dpdk_stats *out)
{
    struct rte_eth_stats s;
    int rc = rte_eth_stats_get(port, &s);
    if (rc < 0)
        return rc;
    out->ipackets = s.ipackets;
    out->opackets = s.opackets;
    out->ibytes = s.ibytes;
    out->obytes = s.obytes;
    out->imissed = s.imissed;
    out->ierrors = s.ierrors;
    out->oerrors = s.oerrors;
    out->rx_nombuf = s.rx_nombuf;
    return 0;
}

int tw_dpdk_stats_reset(uint16_t port) { return rte_eth_stats_reset(port); }

/* ---- mempools and mbufs ---------------------------------------------------------------------------- */

uint64_t tw_dpdk_mempool_create(const char *name, uint32_t n, uint32_t cache, uint16_t data_room, int socket_id)
{
    return (uint64_t)(uintptr_t)rte_pktmbuf_pool_create(name, n, cache, 0, data_room, socket_id);
}

void tw_dpdk_mempool_free(uint64_t mp) { rte_mempool_free((struct rte_mempool *)(uintptr_t)mp); }
uint32_t tw_dpdk_mempool_avail(uint64_t mp) { return rte_mempool_avail_count((struct rte_mempool *)(uintptr_t)mp); }
uint32_t tw_dpdk_mempool_in_use(uint64_t mp) { return rte_mempool_in_use_count((struct rte_mempool *)(uintptr_t)mp); }

/* Bytes one mbuf of this pool can hold after its headroom. */
uint32_t tw_dpdk_mempool_data_room(uint64_t mp)
{
    struct rte_mempool *pool = (struct rte_mempool *)(uintptr_t)mp;
    return rte_pktmbuf_data_room_size(pool) - RTE_PKTMBUF_HEADROOM;
}

uint64_t tw_dpdk_mbuf_alloc(uint64_t mp)
{
    return (uint64_t)(uintptr_t)rte_pktmbuf_alloc((struct rte_mempool *)(uintptr_t)mp);
}

int tw_dpdk_mbuf_alloc_bulk(uint64_t mp, void *mbufs, uint32_t n)
{
    return rte_pktmbuf_alloc_bulk((struct rte_mempool *)(uintptr_t)mp, (mbuf_p *)mbufs, n);
}

uint8_t *tw_dpdk_mbuf_mtod(uint64_t m) { return rte_pktmbuf_mtod((mbuf_p)(uintptr_t)m, uint8_t *); }
uint64_t tw_dpdk_mbuf_data_addr(uint64_t m) { return (uint64_t)(uintptr_t)rte_pktmbuf_mtod((mbuf_p)(uintptr_t)m, void *); }
uint32_t tw_dpdk_mbuf_pkt_len(uint64_t m) { return rte_pktmbuf_pkt_len((mbuf_p)(uintptr_t)m); }
uint16_t tw_dpdk_mbuf_data_len(uint64_t m) { return rte_pktmbuf_data_len((mbuf_p)(uintptr_t)m); }
uint16_t tw_dpdk_mbuf_nb_segs(uint64_t m) { return ((mbuf_p)(uintptr_t)m)->nb_segs; }
void tw_dpdk_mbuf_free(uint64_t m) { rte_pktmbuf_free((mbuf_p)(uintptr_t)m); }
void tw_dpdk_free_bulk(void *mbufs, uint32_t n) { rte_pktmbuf_free_bulk((mbuf_p *)mbufs, n); }

/* Timestamp the PMD put in the mbuf (unit is the PMD's: microseconds for net_pcap), or -1 when it did not. */
int64_t tw_dpdk_mbuf_rx_timestamp(uint64_t m)
{
    mbuf_p mb = (mbuf_p)(uintptr_t)m;
    if (tw_ts_offset < 0 || !(mb->ol_flags & tw_ts_flag))
        return -1;
    return (int64_t)*RTE_MBUF_DYNFIELD(mb, tw_ts_offset, rte_mbuf_timestamp_t *);
}

/* Copy the whole packet (every segment) to dst; -pkt_len when it does not fit in cap. */
int64_t tw_dpdk_mbuf_copy_out(uint64_t m, void *dst, uint32_t cap)
{
    mbuf_p mb = (mbuf_p)(uintptr_t)m;
    uint32_t len = rte_pktmbuf_pkt_len(mb);
    uint8_t *out = (uint8_t *)dst;
    if (len > cap)
        return -(int64_t)len;
    for (mbuf_p seg = mb; seg != NULL; seg = seg->next) {
        memcpy(out, rte_pktmbuf_mtod(seg, void *), seg->data_len);
        out += seg->data_len;
    }
    return len;
}

/* A one-segment mbuf holding a copy of src[0:len], or 0 when the pool is empty or len exceeds one mbuf. */
uint64_t tw_dpdk_tx_mbuf_copy(uint64_t mp, void *src, uint32_t len)
{
    if (len > UINT16_MAX)
        return 0;
    mbuf_p mb = rte_pktmbuf_alloc((struct rte_mempool *)(uintptr_t)mp);
    if (mb == NULL)
        return 0;
    char *dst = rte_pktmbuf_append(mb, (uint16_t)len);
    if (dst == NULL) {
        rte_pktmbuf_free(mb);
        return 0;
    }
    memcpy(dst, src, len);
    return (uint64_t)(uintptr_t)mb;
}

/* ---- data path ------------------------------------------------------------------------------------- */

uint16_t tw_dpdk_rx_burst(uint16_t port, uint16_t queue, void *mbufs, uint16_t n)
{
    return rte_eth_rx_burst(port, queue, (mbuf_p *)mbufs, n);
}

uint16_t tw_dpdk_tx_burst(uint16_t port, uint16_t queue, void *mbufs, uint16_t n)
{
    return rte_eth_tx_burst(port, queue, (mbuf_p *)mbufs, n);
}

/* One poll of a receive loop in a single call: rx_burst, then touch each packet, then free the burst with
 * rte_pktmbuf_free_bulk. touch 0: nothing per packet (the work of testpmd's rxonly mode); 1: its length (the mbuf
 * header); 2: its length and first byte (prefetched one packet ahead). Adds the touched values to acc[0] (so the
 * work cannot be optimised away) and returns the packet count. */
uint16_t tw_dpdk_rx_touch_free(uint16_t port, uint16_t queue, void *mbufs, uint16_t n, int touch, void *acc)
{
    mbuf_p *pkts = (mbuf_p *)mbufs;
    uint16_t got = rte_eth_rx_burst(port, queue, pkts, n);
    uint64_t sum = 0;
    if (got == 0)
        return 0;
    if (touch >= 2) {
        rte_prefetch0(rte_pktmbuf_mtod(pkts[0], void *));
        for (uint16_t i = 0; i < got; i++) {
            if (i + 1 < got)
                rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
            sum += pkts[i]->pkt_len + *rte_pktmbuf_mtod(pkts[i], uint8_t *);
        }
    } else if (touch == 1) {
        for (uint16_t i = 0; i < got; i++)
            sum += pkts[i]->pkt_len;
    }
    rte_pktmbuf_free_bulk(pkts, got);
    *(uint64_t *)acc += sum;
    return got;
}

/* One step of io forwarding (testpmd's io mode): rx_burst, then tx_burst of the same mbufs on the same port and
 * queue; what the device does not take is freed. Returns the packets received. */
uint16_t tw_dpdk_rx_tx_back(uint16_t port, uint16_t queue, void *mbufs, uint16_t n)
{
    mbuf_p *pkts = (mbuf_p *)mbufs;
    uint16_t got = rte_eth_rx_burst(port, queue, pkts, n);
    if (got == 0)
        return 0;
    uint16_t sent = rte_eth_tx_burst(port, queue, pkts, got);
    if (sent < got)
        rte_pktmbuf_free_bulk(pkts + sent, got - sent);
    return got;
}

static int64_t tw_realtime_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Receive one burst and copy it into a packet batch: buf (bytes), offsets (int64), lengths (int32) and stamps
 * (int64 ns: the PMD's timestamp times ts_mult when it gives one — net_pcap in 22.11 stamps the capture time
 * in microseconds, so 1000 — else CLOCK_REALTIME at receive), at index first.
 *
 * state is a uint64[4] array owned by the caller, zeroed before the first call:
 *   state[0] mbufs kept at the front of `mbufs` because they did not fit (they are copied first next call)
 *   state[1] next free byte in buf (the caller resets it to 0 when it starts a new batch)
 *   state[2] packets larger than the whole buffer, dropped (counted, never silently truncated)
 *   state[3] packets received in total
 * `mbufs` needs room for `burst` handles. At most max_pkts - first packets are copied. Returns how many were
 * copied; every copied mbuf is freed. */
int32_t tw_dpdk_rx_copy(uint16_t port, uint16_t queue, void *mbufs, uint16_t burst, void *state,
                        void *buf, uint64_t buf_cap, void *offsets, void *lengths, void *stamps,
                        uint32_t first, uint32_t max_pkts, int64_t ts_mult)
{
    mbuf_p *pkts = (mbuf_p *)mbufs;
    uint64_t *st = (uint64_t *)state;
    uint8_t *out = (uint8_t *)buf;
    int64_t *off = (int64_t *)offsets + first;
    int32_t *len = (int32_t *)lengths + first;
    int64_t *stamp = (int64_t *)stamps + first;
    uint32_t room = first < max_pkts ? max_pkts - first : 0;
    uint32_t have = (uint32_t)st[0];
    uint64_t pos = st[1];
    uint32_t i, k = 0;

    if (have == 0 && room > 0) {
        have = rte_eth_rx_burst(port, queue, pkts, room < burst ? room : burst);
        st[3] += have;
    }
    if (have == 0)
        return 0;
    int64_t now = tw_realtime_now();
    for (i = 0; i < have && k < room; i++) {
        mbuf_p mb = pkts[i];
        uint32_t plen = rte_pktmbuf_pkt_len(mb);
        if (plen > buf_cap) {
            st[2]++;
            rte_pktmbuf_free(mb);
            continue;
        }
        if (pos + plen > buf_cap)
            break;
        if (i + 1 < have)
            rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
        tw_dpdk_mbuf_copy_out((uint64_t)(uintptr_t)mb, out + pos, plen);
        off[k] = (int64_t)pos;
        len[k] = (int32_t)plen;
        stamp[k] = (tw_ts_offset >= 0 && (mb->ol_flags & tw_ts_flag))
                       ? (int64_t)*RTE_MBUF_DYNFIELD(mb, tw_ts_offset, rte_mbuf_timestamp_t *) * ts_mult : now;
        pos += plen;
        k++;
        rte_pktmbuf_free(mb);
    }
    /* keep what did not fit, in order, for the next call */
    if (i < have)
        memmove(pkts, pkts + i, (have - i) * sizeof(mbuf_p));
    st[0] = have - i;
    st[1] = pos;
    return (int32_t)k;
}

/* Send packets first..first+n of a batch (buf + offsets + lengths): each is copied into a fresh mbuf of mp and
 * the burst is handed to tx_burst; mbufs the PMD did not take are freed. `scratch` holds n handles.
 * Returns the number sent, or -ENOBUFS when the pool could not supply n mbufs, -EMSGSIZE when a packet
 * exceeds one mbuf, -EINVAL when n exceeds one burst (65535) (nothing is sent then). */
int32_t tw_dpdk_tx_copy(uint16_t port, uint16_t queue, uint64_t mp, void *buf, void *offsets, void *lengths,
                        uint32_t first, uint32_t n, void *scratch)
{
    struct rte_mempool *pool = (struct rte_mempool *)(uintptr_t)mp;
    mbuf_p *pkts = (mbuf_p *)scratch;
    const uint8_t *in = (const uint8_t *)buf;
    const int64_t *off = (const int64_t *)offsets + first;
    const int32_t *len = (const int32_t *)lengths + first;
    uint32_t room = rte_pktmbuf_data_room_size(pool) - RTE_PKTMBUF_HEADROOM;

    if (n > UINT16_MAX)
        return -EINVAL;
    for (uint32_t i = 0; i < n; i++)
        if (len[i] < 0 || (uint32_t)len[i] > room)
            return -EMSGSIZE;
    if (rte_pktmbuf_alloc_bulk(pool, pkts, n) != 0)
        return -ENOBUFS;
    for (uint32_t i = 0; i < n; i++) {
        char *dst = rte_pktmbuf_append(pkts[i], (uint16_t)len[i]);
        memcpy(dst, in + off[i], (size_t)len[i]);
    }
    uint16_t sent = 0;
    while (sent < n) {
        uint16_t now = rte_eth_tx_burst(port, queue, pkts + sent, (uint16_t)(n - sent));
        if (now == 0)
            break;
        sent += now;
    }
    if (sent < n)
        rte_pktmbuf_free_bulk(pkts + sent, n - sent);
    return (int32_t)sent;
}
