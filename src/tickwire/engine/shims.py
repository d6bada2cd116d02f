"""The _tw_native shims the hot path needs, bound by symbol name so that the kernels using them can be cached.

numba cannot cache a function that calls a cffi function (the pointer is baked into the code), so every
process would recompile the whole hot pass (over a minute on this class of machine). The same C functions of
``tickwire._tw_native`` are also plain exported symbols: once the library is loaded into LLVM's symbol table,
``types.ExternalFunction`` calls them by name, and numba's on-disk cache works (``cache=True``).
"""
from __future__ import annotations

import llvmlite.binding as llvm
from numba import types

from tickwire.native import _native

llvm.load_library_permanently(_native.__file__)

rdtsc = types.ExternalFunction("tw_rdtsc", types.uint64())
realtime_ns = types.ExternalFunction("tw_realtime_ns", types.int64())
monotonic_ns = types.ExternalFunction("tw_monotonic_ns", types.int64())
# the hot pass's way out: a socket descriptor (send) or a TLS session handle (SSL_write), see netstack.tls
send = types.ExternalFunction("tw_out_write", types.int64(types.int64, types.voidptr, types.int64))
recv = types.ExternalFunction("tw_recv", types.int64(types.int32, types.voidptr, types.int64))
# recv_ts(fd, buf, len, rx_ns_out): a non-blocking recv that writes the kernel's receive time (CLOCK_REALTIME ns,
# 0 when none) into rx_ns_out[0]; the spin driver's read (enable with native.lib.tw_enable_rx_timestamps)
recv_ts = types.ExternalFunction("tw_recv_ts", types.int64(types.int32, types.voidptr, types.int64, types.voidptr))
