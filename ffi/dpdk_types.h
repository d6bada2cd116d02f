/* Plain structs shared by ffi/dpdk.c and the cffi cdef in ffi/dpdk_build.py (one definition for both). */
typedef struct {
    char name[64];
    char driver[64];
    uint32_t if_index;
    uint16_t min_mtu, max_mtu;
    uint32_t max_rx_pktlen;
    uint16_t max_rx_queues, max_tx_queues;
    uint16_t rx_desc_min, rx_desc_max, tx_desc_min, tx_desc_max;
    int socket_id;
    uint64_t rx_offload_capa;
    uint8_t mac[6];
} tw_dpdk_port_info;

typedef struct {
    uint32_t speed_mbps;
    uint16_t up, full_duplex, autoneg;
} tw_dpdk_link;

typedef struct {
    uint64_t ipackets, opackets, ibytes, obytes, imissed, ierrors, oerrors, rx_nombuf;
} tw_dpdk_stats;
