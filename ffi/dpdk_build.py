"""cffi build script for ``tickwire._tw_dpdk`` (API / out-of-line mode), built only where `pkg-config libdpdk` exists.

pycparser cannot read DPDK's headers, so the cdef declares only the ``tw_dpdk_*`` wrappers of ffi/dpdk.c (and
three plain structs of our own); the DPDK headers are included by the C source alone. Handles are integers:
ports are uint16_t, mempools and mbufs uint64_t addresses (numba maps neither uintptr_t nor typed pointers),
mbuf arrays and batch arrays are ``void*`` (pass ``arr.ctypes.data``).
"""
from pathlib import Path

from cffi import FFI

TYPES = (Path(__file__).parent / "dpdk_types.h").read_text()

CDEF = TYPES + """

int tw_dpdk_eal_init(int argc, char **argv);
int tw_dpdk_eal_ready(void);
int tw_dpdk_eal_cleanup(void);
const char *tw_dpdk_version(void);
int tw_dpdk_errno(void);
const char *tw_dpdk_strerror(int err);
unsigned tw_dpdk_lcore_id(void);
int tw_dpdk_socket_id(void);
uint64_t tw_dpdk_tsc_hz(void);

uint16_t tw_dpdk_port_count(void);
int tw_dpdk_port_valid(uint16_t port);
int tw_dpdk_port_by_name(const char *name);
int tw_dpdk_port_info_get(uint16_t port, tw_dpdk_port_info *out);
int tw_dpdk_port_configure(uint16_t port, uint16_t nb_rxq, uint16_t nb_txq, int rx_timestamp);
int tw_dpdk_adjust_desc(uint16_t port, uint16_t *nb_rx, uint16_t *nb_tx);
int tw_dpdk_rx_queue_setup(uint16_t port, uint16_t queue, uint16_t nb_desc, uint64_t mempool);
int tw_dpdk_tx_queue_setup(uint16_t port, uint16_t queue, uint16_t nb_desc);
int tw_dpdk_port_start(uint16_t port);
int tw_dpdk_port_stop(uint16_t port);
int tw_dpdk_vdev_attach(const char *name, const char *args);
int tw_dpdk_vdev_detach(const char *name);
int tw_dpdk_port_close(uint16_t port);
int tw_dpdk_promiscuous_set(uint16_t port, int on);
int tw_dpdk_promiscuous_get(uint16_t port);
int tw_dpdk_allmulticast_set(uint16_t port, int on);
int tw_dpdk_mtu_set(uint16_t port, uint16_t mtu);
int tw_dpdk_mtu_get(uint16_t port);
int tw_dpdk_link_get(uint16_t port, int wait, tw_dpdk_link *out);
int tw_dpdk_stats_get(uint16_t port, tw_dpdk_stats *out);
int tw_dpdk_stats_reset(uint16_t port);

uint64_t tw_dpdk_mempool_create(const char *name, uint32_t n, uint32_t cache, uint16_t data_room, int socket_id);
void tw_dpdk_mempool_free(uint64_t mp);
uint32_t tw_dpdk_mempool_avail(uint64_t mp);
uint32_t tw_dpdk_mempool_in_use(uint64_t mp);
uint32_t tw_dpdk_mempool_data_room(uint64_t mp);

uint64_t tw_dpdk_mbuf_alloc(uint64_t mp);
int tw_dpdk_mbuf_alloc_bulk(uint64_t mp, void *mbufs, uint32_t n);
uint8_t *tw_dpdk_mbuf_mtod(uint64_t m);
uint64_t tw_dpdk_mbuf_data_addr(uint64_t m);
uint32_t tw_dpdk_mbuf_pkt_len(uint64_t m);
uint16_t tw_dpdk_mbuf_data_len(uint64_t m);
uint16_t tw_dpdk_mbuf_nb_segs(uint64_t m);
void tw_dpdk_mbuf_free(uint64_t m);
void tw_dpdk_free_bulk(void *mbufs, uint32_t n);
int64_t tw_dpdk_mbuf_rx_timestamp(uint64_t m);
int64_t tw_dpdk_mbuf_copy_out(uint64_t m, void *dst, uint32_t cap);
uint64_t tw_dpdk_tx_mbuf_copy(uint64_t mp, void *src, uint32_t len);

uint16_t tw_dpdk_rx_burst(uint16_t port, uint16_t queue, void *mbufs, uint16_t n);
uint16_t tw_dpdk_tx_burst(uint16_t port, uint16_t queue, void *mbufs, uint16_t n);
uint16_t tw_dpdk_rx_touch_free(uint16_t port, uint16_t queue, void *mbufs, uint16_t n, int touch, void *acc);
uint16_t tw_dpdk_rx_tx_back(uint16_t port, uint16_t queue, void *mbufs, uint16_t n);
int32_t tw_dpdk_rx_copy(uint16_t port, uint16_t queue, void *mbufs, uint16_t burst, void *state,
                        void *buf, uint64_t buf_cap, void *offsets, void *lengths, void *stamps,
                        uint32_t first, uint32_t max_pkts, int64_t ts_mult);
int32_t tw_dpdk_tx_copy(uint16_t port, uint16_t queue, uint64_t mp, void *buf, void *offsets, void *lengths,
                        uint32_t first, uint32_t n, void *scratch);
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source_pkgconfig(
    "tickwire._tw_dpdk",
    ["libdpdk"],
    (Path(__file__).parent / "dpdk.c").read_text(),
    include_dirs=[str(Path(__file__).resolve().parent)],
    extra_compile_args=["-O3", "-Wall", "-Wno-unused-function"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
