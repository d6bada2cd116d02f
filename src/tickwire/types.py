"""Every numpy record dtype and protocol constant of tickwire, defined once.

Sections, from the wire up: conventions and sides; packets; market-data events, order answers and the
instrument table (the Deribit JSON codec); the L2 book; Deribit multicast SBE and its feed handler; the engine
(orders, strategy actions, risk, credits, probes, counters).

Conventions: prices are integer ticks (price / tick_size), amounts integer lots (amount / lot_size, lot_size = the
instrument's min_trade_amount); exchange times in ns since the epoch. Every record dtype is built with
``align=True``: each field sits at its natural alignment (as in a C struct), so compiled code never does an
unaligned load; records are not padded to cache lines (their sizes are whatever their fields need).
"""
from __future__ import annotations

import numpy as np

# --- sides ---
# One enum for order sides, book sides (the book's side axis), event sides and trade directions. The venue's
# encodings (JSON "buy"/"sell" and "bids"/"asks", SBE bookSide and direction) are mapped to it at decode.
# Signed quantities (a position) use 1 - 2 * side: +1 for a buy, -1 for a sell (tickwire.engine.orders.side_sign).
SIDE_BUY, SIDE_SELL = 0, 1  # buy = the bid side of a book, sell = the ask side
BOOK_BID, BOOK_ASK = SIDE_BUY, SIDE_SELL  # the same two values, named for book code


# --- packets ---
# Link types (pcap LINKTYPE_*) the packet parser understands.
LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_IPV4 = 0, 1, 101, 228
LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2 = 113, 276

# PACKET_DTYPE.kind: what the parser found in one captured frame.
PKT_OTHER, PKT_TCP, PKT_UDP, PKT_IP_FRAGMENT, PKT_MALFORMED, PKT_BAD_CHECKSUM = 0, 1, 2, 3, 4, 5
PKT_KIND_NAMES = ("other", "tcp", "udp", "ip_fragment", "malformed", "bad_checksum")
# TCP flags (PACKET_DTYPE.tcp_flags)
TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10

# One parsed frame (tickwire.netstack.packet.parse_packets): offsets index the batch buffer it came from.
PACKET_DTYPE = np.dtype([
    ("ts_ns", np.int64),  # capture / receive time, ns
    ("payload_off", np.int64),  # L4 payload (TCP/UDP data) offset in the batch buffer
    ("payload_len", np.int32),  # L4 payload length (clipped to the captured bytes)
    ("src_ip", np.uint32), ("dst_ip", np.uint32),  # IPv4, host byte order
    ("seq", np.uint32), ("ack", np.uint32),  # TCP only
    ("sport", np.uint16), ("dport", np.uint16),
    ("kind", np.uint8),  # PKT_*
    ("tcp_flags", np.uint8),
    ("truncated", np.uint8),  # 1: caplen < the length the IP header announces (snaplen cut the payload)
    ("vlan", np.uint16),  # outermost 802.1Q VLAN id, 0 when untagged
], align=True)

# --- market-data events, order answers, the instrument table (Deribit JSON codec) ---
# Market-data event kinds (EVENT_DTYPE.kind) and flags.
EV_NONE, EV_BOOK, EV_TRADE, EV_TICKER = 0, 1, 2, 3
EV_KIND_NAMES = ("none", "book", "trade", "ticker")
ACT_LEVEL_NONE, ACT_LEVEL_NEW, ACT_LEVEL_CHANGE, ACT_LEVEL_DELETE = 0, 1, 2, 3  # EVENT_DTYPE.action (book levels)
EVF_SNAPSHOT = 0x01  # the level belongs to a snapshot message (the book is cleared at its first level)
EVF_FIRST = 0x02  # first event of its message (book: check the change_id chain here)
EVF_LAST = 0x04  # last event of its message (book: commit change_id here)

# One market-data event. A book message with k levels gives max(k, 1) EV_BOOK events (an empty message gives one
# event with action ACT_LEVEL_NONE so the change_id chain still advances); a trades message gives one EV_TRADE per
# trade; a ticker gives two EV_TICKER events (side BOOK_BID then BOOK_ASK: best price and amount).
EVENT_DTYPE = np.dtype([
    ("kind", np.uint8),  # EV_*
    ("side", np.uint8),  # SIDE_BUY (bid) / SIDE_SELL (ask); trades: the taker's side
    ("action", np.uint8),  # ACT_LEVEL_* (book), 0 otherwise
    ("flags", np.uint8),  # EVF_*
    ("inst", np.int32),  # instrument slot (index in the instrument table)
    ("exch_ts", np.int64),  # exchange timestamp, ns since the epoch (Deribit JSON: ms * 1e6)
    ("recv_ts", np.int64),  # local receive stamp supplied by the caller (TSC or capture ns)
    ("change_id", np.int64),  # book: change_id; trade: trade_id (numeric); ticker: 0
    ("prev_change_id", np.int64),  # book change: prev_change_id; snapshot: -1; trade: trade_seq
    ("price", np.int64),  # ticks
    ("amount", np.int64),  # lots (delete: 0)
    ("msg", np.int64),  # index of the message (span) it came from in its batch
], align=True)

# Order-method responses (private/buy, sell, edit, cancel and errors): ORDER_RESP_DTYPE.kind, order states.
RESP_NONE, RESP_ORDER, RESP_ERROR = 0, 1, 2
OST_UNKNOWN, OST_OPEN, OST_FILLED, OST_REJECTED, OST_CANCELLED, OST_UNTRIGGERED, OST_TRIGGERED = range(7)
OST_NAMES = ("unknown", "open", "filled", "rejected", "cancelled", "untriggered", "triggered")
RESP_ORDER_ID_BYTES = 32

# One JSON-RPC response to an order method. price/amount/filled in ticks/lots when the instrument is in the table
# (inst >= 0), else inst = -1 and only the *_f float fields are meaningful. average_price is a float always
# (an average is not a tick multiple).
ORDER_RESP_DTYPE = np.dtype([
    ("kind", np.uint8),  # RESP_*
    ("order_state", np.uint8),  # OST_*
    ("side", np.uint8),  # SIDE_BUY / SIDE_SELL
    ("oid_len", np.uint8),  # bytes used in oid
    ("inst", np.int32),
    ("req_id", np.int64),  # JSON-RPC id
    ("err_code", np.int64),  # error.code for RESP_ERROR, 0 otherwise
    ("price", np.int64), ("amount", np.int64), ("filled", np.int64),  # ticks / lots (inst >= 0)
    ("price_f", np.float64), ("amount_f", np.float64), ("filled_f", np.float64), ("average_price", np.float64),
    ("us_out", np.int64),  # server send time (usOut), µs; 0 when absent
    ("recv_ts", np.int64),
    ("oid", np.uint8, (RESP_ORDER_ID_BYTES,)),  # order_id ASCII
], align=True)

# Instrument table used by the JSON codec: tick and lot sizes as exact decimals num * 10**-scale.
INSTRUMENT_NAME_BYTES = 48
INSTRUMENT_DTYPE = np.dtype([
    ("name", np.uint8, (INSTRUMENT_NAME_BYTES,)), ("name_len", np.int32),
    ("tick_scale", np.int32), ("tick_num", np.int64),  # tick_size = tick_num * 10**-tick_scale
    ("lot_scale", np.int32), ("lot_num", np.int64),  # lot_size = lot_num * 10**-lot_scale
    ("tick_size", np.float64), ("lot_size", np.float64),  # the same as floats (edges only)
], align=True)

# --- the L2 book ---
# The L2 book (tickwire.md.book): per instrument slot, each side is a sorted array of levels with the BEST
# LEVEL LAST (bids ascending, asks descending), so changes near the touch move few elements.
BOOK_DEFAULT_DEPTH = 4096  # levels per side per slot
BOOK_NO_PRICE = -(2**63)  # best price of an empty side
BOOK_STATE_DTYPE = np.dtype([
    ("last_change_id", np.int64),  # change_id of the last applied message (-1: none)
    ("n_msgs", np.int64),  # book messages applied
    ("n_gaps", np.int64),  # change_id chain breaks seen (each invalidates the book until the next snapshot)
    ("n_dropped", np.int64),  # levels that did not fit (depth) or deletes/changes of unknown levels while truncated
    ("n_errors", np.int64),  # inconsistent events (delete/change of an absent level, crossed snapshot...)
    ("exch_ts", np.int64),  # exchange time of the last applied message, ns
    ("n_bids", np.int32), ("n_asks", np.int32),
    ("valid", np.uint8),  # 1 after a snapshot while the chain holds
    ("truncated", np.uint8),  # 1 when levels were dropped for depth since the last snapshot
], align=True)


# --- multicast SBE: Deribit UDP multicast market data, schema com.deribit.multicast id 1 ---
# Layout: Deribit's multicast schema as verified on its sample capture (tests/data/deribit-multicast).
# All wire integers and doubles are little-endian.
SBE_SCHEMA_ID = 1
SBE_FRAME_HEADER_LEN = 8  # u16 packetLength (bytes after this header), u16 channelId, u32 sequenceNumber
SBE_MESSAGE_HEADER_LEN = 12  # 6 x u16: blockLength (excl. header), templateId, schemaId, version, numGroups, numVarData
SBE_GROUP_HEADER_LEN = 8  # 4 x u16: blockLength, numInGroup, numGroups, numVarDataFields

SBE_TPL_INSTRUMENT = 1000
SBE_TPL_BOOK = 1001
SBE_TPL_TRADES = 1002
SBE_TPL_TICKER = 1003
SBE_TPL_SNAPSHOT = 1004
SBE_TPL_SNAPSHOT_START = 1005
SBE_TPL_SNAPSHOT_END = 1006
SBE_TPL_COMBO_LEGS = 1007
SBE_TPL_PRICE_INDEX = 1008
SBE_TPL_RFQ = 1009
SBE_TPL_INSTRUMENT_V2 = 1010
SBE_TEMPLATE_NAMES = {
    1000: "instrument", 1001: "book", 1002: "trades", 1003: "ticker", 1004: "snapshot", 1005: "snapshot_start",
    1006: "snapshot_end", 1007: "combo_legs", 1008: "price_index", 1009: "rfq", 1010: "instrument_v2",
}
# Smallest root block / group entry that holds every field we decode (the wire may carry more: skip by blockLength).
SBE_MIN_BLOCK = {1000: 140, 1001: 29, 1002: 4, 1003: 133, 1004: 22, 1005: 4, 1006: 0, 1007: 4, 1008: 32, 1009: 22,
                 1010: 139}
SBE_MIN_ENTRY = {1001: 18, 1002: 83, 1004: 17, 1007: 8, 1010: 16}

# Schema null values. Doubles use NaN; Trades.iv is null when 0 or NaN (decoded as NaN); block/combo trade ids 0.
SBE_NULL_U8 = 255
SBE_NULL_U16 = 0xFFFF
SBE_NULL_U32 = 0xFFFFFFFF
SBE_NULL_U64 = 0xFFFFFFFFFFFFFFFF

# Enums (uint8 on the wire).
SBE_NO, SBE_YES = 0, 1
SBE_SIDE_ASK, SBE_SIDE_BID = 0, 1  # bookSide (wire values; SIDE_* after decode)
SBE_CHANGE_CREATED, SBE_CHANGE_CHANGED, SBE_CHANGE_DELETED = 0, 1, 2  # bookChange
SBE_DIR_BUY, SBE_DIR_SELL, SBE_DIR_ZERO = 0, 1, 2  # direction
SBE_INSTRUMENT_STATES = ("created", "open", "closed", "settled", "deactivated", "inactive", "started")
SBE_INSTRUMENT_KINDS = ("future", "option", "future_combo", "option_combo", "spot")

# Incremental channel N is 239.111.111.N:6100 (channelId N); its snapshot channel 239.111.111.N:6101 (channelId 100+N).
SBE_GROUP_PREFIX = "239.111.111."
SBE_PORT_INCREMENTAL = 6100
SBE_PORT_SNAPSHOT = 6101
SBE_SNAPSHOT_CHANNEL_OFFSET = 100

# Decoder status of one packet (SBE_PACKET_DTYPE.status) and indices of the decoder's int64 stats array.
SBE_OK = 0
SBE_ERR_TRUNCATED = 1  # shorter than a frame header, or packetLength + 8 != UDP payload length
SBE_ERR_SCHEMA = 2  # schemaId != 1
SBE_ERR_BOUNDS = 3  # a message, group or var field runs past packetLength
SBE_ERR_BLOCK = 4  # a known template's blockLength / entry length / group count is too small for its fields
SBE_ERR_ENUM = 5  # an enum byte the book depends on (side, change, yes/no) is not a schema value
SBE_ERR_CAPACITY = 6  # output buffers full: flush and decode the packet again (not counted as an error)
SBE_ERROR_NAMES = ("ok", "truncated", "schema", "bounds", "block", "enum", "capacity")
SBE_STAT_PACKETS = 0  # packets decoded without error
SBE_STAT_MESSAGES = 1
SBE_STAT_UNKNOWN = 2  # messages of an unknown template, skipped by their header
SBE_STAT_ERRORS = 3  # packets rejected (any SBE_ERR_* except capacity)
SBE_STAT_ERR_BASE = 8  # stats[8 + SBE_ERR_x] counts each error kind
SBE_STAT_TPL_BASE = 16  # stats[16 + templateId - 1000] counts messages per template
SBE_STATS_LEN = 32

SBE_PACKET_DTYPE = np.dtype([
    ("rx_ns", np.int64),  # receive/capture time, ns
    ("seq", np.uint32), ("channel", np.uint16), ("n_msgs", np.uint16), ("status", np.uint8),
    ("first_msg", np.int64),  # index of its first SBE_MSG_DTYPE record
], align=True)
SBE_MSG_DTYPE = np.dtype([
    ("packet", np.int64),  # index of its SBE_PACKET_DTYPE record
    ("ref", np.int64),  # index into the record array of its template (-1 for snapshot_end / unknown)
    ("instrument_id", np.uint32),  # SBE_NULL_U32 when the template has none
    ("aux", np.uint32),  # snapshot_start: snapshotDelay; trades / combo_legs: number of entries; else 0
    ("template", np.uint16), ("version", np.uint16), ("channel", np.uint16),
], align=True)
SBE_LEVEL_DTYPE = np.dtype([  # a Book change entry or a Snapshot level
    ("price", np.float64), ("amount", np.float64), ("side", np.uint8), ("change", np.uint8),
], align=True)
SBE_BOOK_DTYPE = np.dtype([
    ("timestamp_ms", np.uint64), ("prev_change_id", np.uint64), ("change_id", np.uint64),
    ("first_level", np.int64), ("instrument_id", np.uint32), ("n_levels", np.uint16), ("is_last", np.uint8),
], align=True)
SBE_SNAPSHOT_DTYPE = np.dtype([
    ("timestamp_ms", np.uint64), ("change_id", np.uint64), ("first_level", np.int64), ("instrument_id", np.uint32),
    ("n_levels", np.uint16), ("is_book_complete", np.uint8), ("is_last_in_book", np.uint8),
], align=True)
SBE_TRADE_DTYPE = np.dtype([
    ("price", np.float64), ("amount", np.float64), ("timestamp_ms", np.uint64), ("mark_price", np.float64),
    ("index_price", np.float64), ("trade_seq", np.uint64), ("trade_id", np.uint64), ("iv", np.float64),
    ("block_trade_id", np.uint64), ("combo_trade_id", np.uint64), ("instrument_id", np.uint32),
    ("direction", np.uint8), ("tick_direction", np.uint8), ("liquidation", np.uint8),
], align=True)
SBE_TICKER_FIELDS = ("open_interest", "min_sell_price", "max_buy_price", "last_price", "index_price", "mark_price",
                     "best_bid_price", "best_bid_amount", "best_ask_price", "best_ask_amount", "current_funding",
                     "funding_8h", "estimated_delivery_price", "delivery_price", "settlement_price")
SBE_TICKER_DTYPE = np.dtype([("timestamp_ms", np.uint64)] + [(name, np.float64) for name in SBE_TICKER_FIELDS]
                            + [("instrument_id", np.uint32), ("state", np.uint8)], align=True)
SBE_INSTRUMENT_DOUBLES = ("strike_price", "contract_size", "min_trade_amount", "tick_size", "maker_commission",
                          "taker_commission", "block_trade_commission", "max_liquidation_commission", "max_leverage")
SBE_CURRENCY_FIELDS = ("base_currency", "quote_currency", "counter_currency", "settlement_currency", "size_currency")
SBE_NAME_MAX = 64
SBE_INSTRUMENT_DTYPE = np.dtype(
    [("creation_timestamp_ms", np.uint64), ("expiration_timestamp_ms", np.uint64)]
    + [(name, np.float64) for name in SBE_INSTRUMENT_DOUBLES]
    + [("first_tick_step", np.int64), ("instrument_id", np.uint32), ("n_tick_steps", np.uint16),
       ("settlement_period_count", np.uint16), ("template", np.uint16), ("state", np.uint8), ("kind", np.uint8),
       ("future_type", np.uint8), ("option_type", np.uint8), ("rfq", np.uint8),  # rfq: SBE_NULL_U8 in instrumentV2
       ("settlement_period", np.uint8), ("name_len", np.uint8)]
    + [(name, np.uint8, (8,)) for name in SBE_CURRENCY_FIELDS]  # NUL-padded ASCII
    + [("name", np.uint8, (SBE_NAME_MAX,))], align=True)  # instrumentName, name_len bytes (longer names: error)
SBE_TICK_STEP_DTYPE = np.dtype([("above_price", np.float64), ("tick_size", np.float64)], align=True)
SBE_PRICE_INDEX_DTYPE = np.dtype([("price", np.float64), ("timestamp_ms", np.uint64), ("index_name", np.uint8, (16,))],
                                 align=True)
SBE_RFQ_DTYPE = np.dtype([("amount", np.float64), ("timestamp_ms", np.uint64), ("instrument_id", np.uint32),
                          ("state", np.uint8), ("side", np.uint8)], align=True)
SBE_COMBO_LEG_DTYPE = np.dtype([("instrument_id", np.uint32), ("leg_instrument_id", np.uint32),
                                ("leg_size", np.int32)], align=True)

# Multicast feed handler (tickwire.md.mcast_feed): indices of its int64 stats array.
MCF_STAT_PACKETS = 0  # packets accepted (in sequence, or late but not seen before)
MCF_STAT_GAPS = 1  # sequence gaps (a jump forward on a channel)
MCF_STAT_MISSING = 2  # packets still missing (gap sizes minus late arrivals)
MCF_STAT_DUPLICATES = 3  # packets seen before, dropped
MCF_STAT_REORDERED = 4  # late packets (arrived after a higher sequence number), processed
MCF_STAT_TOO_OLD = 5  # packets older than the 64-packet window, dropped
MCF_STAT_BOOK_GAPS = 6  # prevChangeId != last changeId: the book waits for a snapshot
MCF_STAT_STALE = 7  # book messages with changeId <= the book's last changeId, skipped
MCF_STAT_IGNORED = 8  # buffered book events dropped because the snapshot already holds them
MCF_STAT_SNAPSHOTS = 9  # snapshots applied (start-up or recovery)
MCF_STAT_SNAP_VERIFIED = 10  # snapshots of an in-sync book that matched it level for level
MCF_STAT_SNAP_MISMATCH = 11  # ... that did not match (the book is rebuilt from the snapshot)
MCF_STAT_SNAP_ABORTED = 12  # multi-message snapshots cut by a gap or interleaving, discarded
MCF_STAT_FRESH = 13  # books started empty from prevChangeId == 0
MCF_STAT_UNKNOWN_INSTRUMENT = 14  # book/trade/ticker/snapshot for an instrumentId without an Instrument message yet
MCF_STAT_OFF_TICK = 15  # prices / amounts that are not a whole number of ticks / lots (rounded)
MCF_STAT_INCONSISTENT = 16  # book levels that contradicted the book (delete of an absent level...)
MCF_STAT_SLOTS = 17  # instrument slots in use
MCF_STAT_SLOTS_FULL = 18  # instruments dropped because every slot was taken
MCF_STAT_EVENTS = 19  # EVENT_DTYPE events written
MCF_STAT_TRADES = 20
MCF_STAT_TICKERS = 21
MCF_STAT_BUFFERED = 22  # book messages kept while their book waits for a snapshot
MCF_STAT_REPLAYED = 23  # buffered book events applied after the snapshot (changeId above the snapshot's)
MCF_STAT_BUFFER_LOST = 24  # buffered book events overwritten before their snapshot came (the chain then breaks)
MCF_STATS_LEN = 32
MCF_STAT_NAMES = ("packets", "gaps", "missing", "duplicates", "reordered", "too_old", "book_gaps", "stale",
                  "ignored", "snapshots", "snapshots_verified", "snapshot_mismatch", "snapshots_aborted", "fresh_books",
                  "unknown_instrument", "off_tick", "inconsistent", "slots", "slots_full", "events", "trades",
                  "tickers", "buffered", "replayed", "buffer_lost")


# --- engine: order table, strategy actions, risk, credits, probes, counters ---
# Order states (the engine's order state machine; tickwire.engine.orders)
ORD_FREE, ORD_PENDING_NEW, ORD_OPEN, ORD_PARTIALLY_FILLED, ORD_FILLED = 0, 1, 2, 3, 4
ORD_CANCELLED, ORD_REJECTED, ORD_PENDING_CANCEL, ORD_PENDING_REPLACE = 5, 6, 7, 8
ORDER_ID_BYTES = 32  # venue order_id (a string on Deribit) kept as bytes so compiled code can encode a cancel

# One live client order. Prices in integer ticks, amounts in integer lots (lot = instrument min_trade_amount).
ORDER_DTYPE = np.dtype([
    ("cid", np.int64), ("inst", np.int32), ("side", np.int32), ("state", np.int32), ("otype", np.int32),
    ("price", np.int64), ("amount", np.int64), ("filled", np.int64), ("last_ts", np.int64),
    ("req_id", np.int64), ("sent_tsc", np.uint64), ("ack_tsc", np.uint64),
    ("oid_len", np.int32), ("post_only", np.int32), ("oid", np.uint8, (ORDER_ID_BYTES,)),
], align=True)

# Strategy actions written into a preallocated buffer (both strategy tiers)
ACT_NONE, ACT_NEW, ACT_CANCEL, ACT_EDIT, ACT_CANCEL_ALL = 0, 1, 2, 3, 4
OT_LIMIT, OT_MARKET = 0, 1
TIF_GTC, TIF_IOC, TIF_FOK = 0, 1, 2
ACTION_DTYPE = np.dtype([
    ("kind", np.int32), ("inst", np.int32), ("side", np.int32), ("otype", np.int32), ("tif", np.int32),
    ("post_only", np.int32), ("price", np.int64), ("amount", np.int64), ("cid", np.int64),
], align=True)

# Risk verdicts (0 = pass)
RISK_OK, RISK_MAX_AMOUNT, RISK_MAX_POSITION, RISK_MAX_OPEN, RISK_PRICE_BAND = 0, 1, 2, 3, 4
RISK_RATE, RISK_CREDITS, RISK_KILLED, RISK_BOOK_INVALID, RISK_BAD_ACTION = 5, 6, 7, 8, 9

# Risk limits per instrument (tickwire.engine.risk.new_limits), in lots; max_open_orders and orders_per_s are
# account-wide and read from the row of instrument 0.
RISK_LIMITS_DTYPE = np.dtype([
    ("max_order_lots", np.float64), ("max_position_lots", np.float64), ("max_open_orders", np.float64),
    ("band_bps", np.float64),  # max distance of a limit price from mid, basis points
    ("orders_per_s", np.float64),  # local order-rate bucket: refill rate and burst
], align=True)
# The risk state: one record (an array of length 1, so compiled code can write it).
RISK_STATE_DTYPE = np.dtype([
    ("killed", np.int64),  # 1: the kill switch is set, nothing new passes
    ("open_orders", np.int64),  # live orders (reserved by admit, recounted from the order table)
    ("rate_level", np.float64), ("rate_last_ns", np.int64),  # the order-rate bucket
], align=True)
# Exposure per instrument, in lots: the position and what live orders could add to it.
EXPOSURE_DTYPE = np.dtype([("position", np.int64), ("live_buy", np.int64), ("live_sell", np.int64)], align=True)

# Venue credit buckets (tickwire.deribit.credits): one record per request class, indexed by CREDIT_*.
CREDIT_MATCHING, CREDIT_NON_MATCHING = 0, 1
CREDIT_BUCKET_DTYPE = np.dtype([
    ("level", np.float64), ("capacity", np.float64), ("refill_per_s", np.float64), ("last_ns", np.int64),
    ("cost", np.float64),  # credits one request of this class costs
], align=True)

# Latency probe stages (TSC stamps per hot-loop pass)
ST_RECV, ST_DECODED, ST_BOOK, ST_STRATEGY, ST_RISK, ST_ENCODED, ST_SENT = range(7)
ST_KERNEL_RX = 7  # the kernel's receive stamp of the read (SO_TIMESTAMPING), written after the pass; 0 if unknown
N_STAGES = 8  # the ack of an order is measured per order (ORDER_DTYPE.ack_tsc), not per pass
RTT_ORDER, RTT_POSITION = 0, 1  # round-trip kinds (PROBE_COUNTS_DTYPE.rtt index)
# Market data applied to a book: joined after the run with the venue's send time of that change_id.
MD_SAMPLE_DTYPE = np.dtype([("inst", np.int64), ("change_id", np.int64), ("applied_ns", np.int64)], align=True)
# How many samples each probe ring was given (one record; the rings keep the newest ones).
PROBE_COUNTS_DTYPE = np.dtype([("passes", np.int64), ("md", np.int64), ("rtt", np.int64, (2,))], align=True)

# Engine counters (indices into an int64 array)
C_MESSAGES, C_BOOK_UPDATES, C_RESYNCS, C_REJECTS, C_RECONNECTS, C_CREDITS_SPENT = range(6)
C_RISK_REFUSED, C_ORDERS_SENT, C_FILLS, C_CANCELS_SENT, C_TIMEOUTS, C_RATE_LIMITED = range(6, 12)
C_POSITION_FIXES, C_KILLS, C_DUPLICATES = 12, 13, 14
N_COUNTERS = 15
COUNTER_NAMES = ("messages", "book_updates", "resyncs", "rejects", "reconnects", "credits_spent",
                 "risk_refused", "orders_sent", "fills", "cancels_sent", "timeouts", "rate_limited",
                 "position_fixes", "kills", "duplicates")
