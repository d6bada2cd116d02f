"""The instrument table: Deribit instrument names -> slots, with exact decimal tick and lot sizes.

The compiled decoders (JSON and SBE), the books and the order encoder all index instruments by slot; prices become
integer ticks and amounts integer lots through the exact ``(num, scale)`` decimals kept here.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
from numba import njit

from tickwire.types import (
    INSTRUMENT_DTYPE, INSTRUMENT_NAME_BYTES,
)

def _decimal_parts(value: str | float | int) -> tuple[int, int]:
    d = Decimal(str(value)).normalize()
    sign, digits, exp = d.as_tuple()
    if sign or d == 0 or not isinstance(exp, int):
        raise ValueError(f"tick/lot size must be a positive number, got {value!r}")
    num = int("".join(map(str, digits)))
    return (num * 10 ** exp, 0) if exp >= 0 else (num, -exp)


def is_inverse(name: str) -> bool:
    """Deribit names an inverse contract (sized in USD, settled in the coin) after the coin alone: BTC-PERPETUAL,
    ETH-27DEC24, BTC-27DEC24-50000-C. Linear contracts and spot pairs name their quote currency after an
    underscore: BTC_USDC-PERPETUAL, ETH_USDC."""
    return "_" not in name.split("-", 1)[0]


class InstrumentTable:
    """Instrument slots for the codec and the book: name -> slot, with exact tick and lot sizes.

    ``arr`` is the INSTRUMENT_DTYPE array the compiled code reads; slots are assigned in ``add`` order.
    Defaults: BTC-PERPETUAL (tick 0.5, lot 10 USD) and ETH-PERPETUAL (tick 0.05, lot 1 USD) — Deribit's values.
    """

    DEFAULTS = (("BTC-PERPETUAL", "0.5", "10"), ("ETH-PERPETUAL", "0.05", "1"))

    def __init__(self, capacity: int = 64, defaults: bool = True) -> None:
        self.arr = np.zeros(capacity, dtype=INSTRUMENT_DTYPE)
        self.names: list[str] = []
        if defaults:
            for name, tick, lot in self.DEFAULTS:
                self.add(name, tick, lot)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def active(self) -> np.ndarray:
        """The used part of the table (what the compiled code gets)."""
        return self.arr[:len(self.names)]

    def slot(self, name: str) -> int:
        """Slot of an instrument, -1 when unknown."""
        try:
            return self.names.index(name)
        except ValueError:
            return -1

    def add(self, name: str, tick_size: str | float, lot_size: str | float) -> int:
        """Add (or update) an instrument; returns its slot."""
        raw = name.encode()
        if not raw or len(raw) > INSTRUMENT_NAME_BYTES or not raw.isascii():
            raise ValueError(f"instrument name must be 1..{INSTRUMENT_NAME_BYTES} ASCII bytes: {name!r}")
        slot = self.slot(name)
        if slot < 0:
            if len(self.names) == len(self.arr):
                raise ValueError(f"instrument table full ({len(self.arr)} slots)")
            slot = len(self.names)
            self.names.append(name)
        rec = self.arr[slot]
        rec["name"][:] = 0
        rec["name"][:len(raw)] = np.frombuffer(raw, dtype=np.uint8)
        rec["name_len"] = len(raw)
        rec["tick_num"], rec["tick_scale"] = _decimal_parts(tick_size)
        rec["lot_num"], rec["lot_scale"] = _decimal_parts(lot_size)
        rec["tick_size"], rec["lot_size"] = float(tick_size), float(lot_size)
        return slot

    def learn(self, instruments: list[dict[str, Any]]) -> int:
        """Add the instruments of a ``public/get_instruments`` result (tick_size, min_trade_amount)."""
        added = 0
        for ins in instruments:
            try:
                self.add(ins["instrument_name"], repr(ins["tick_size"]), repr(ins["min_trade_amount"]))
                added += 1
            except (KeyError, TypeError, ValueError):
                continue
        return added

    def tick_size(self, slot: int) -> Decimal:
        return Decimal(int(self.arr[slot]["tick_num"])).scaleb(-int(self.arr[slot]["tick_scale"]))

    def lot_size(self, slot: int) -> Decimal:
        return Decimal(int(self.arr[slot]["lot_num"])).scaleb(-int(self.arr[slot]["lot_scale"]))


@njit(cache=True, _nrt=False)
def lookup_instrument(insts, b, s, e):
    """Slot of the instrument named b[s:e], -1 when absent."""
    n = e - s
    for i in range(insts.shape[0]):
        if insts[i].name_len != n:
            continue
        nm = insts[i].name
        same = True
        for k in range(n):
            if nm[k] != b[s + k]:
                same = False
                break
        if same:
            return i
    return -1


