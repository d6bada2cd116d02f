"""The instruments the simulator lists and trades: a default set and a parser for Deribit-style names.

Prices are integer ticks and amounts integer lots inside the venue (lot = ``min_trade_amount``); floats only at
the JSON edge. BTC-PERPETUAL matches the real instrument (tick 0.5, amount in USD multiples of 10, inverse).
"""
from __future__ import annotations

import calendar
import datetime as dt
import re
import zlib
from dataclasses import dataclass, field
from typing import Any

PERPETUAL_EXPIRY_MS = 32503708800000  # what Deribit reports for perpetuals (year 3000)
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
REFERENCE_PRICE = {"BTC": 90000.0, "ETH": 3000.0}
_FIXED_IDS = {"BTC-PERPETUAL": 124972, "ETH-PERPETUAL": 124973}
_PERP = re.compile(r"^(BTC|ETH)-PERPETUAL$")
_FUTURE = re.compile(r"^(BTC|ETH)-(\d{1,2})([A-Z]{3})(\d{2})$")
_OPTION = re.compile(r"^(BTC|ETH)-(\d{1,2})([A-Z]{3})(\d{2})-(\d+)-([CP])$")


def _decimals(step: float) -> int:
    text = f"{step:.10f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


@dataclass(frozen=True)
class Instrument:
    """One tradable instrument and its contract rules."""

    name: str
    kind: str                 # "future" | "option"
    currency: str             # base currency: BTC | ETH
    tick_size: float
    min_trade_amount: float   # the lot: amounts must be multiples of it
    contract_size: float
    maker_commission: float
    taker_commission: float
    inverse: bool             # True: amount in USD, P&L and fees in the base coin
    expiration_ms: int
    reference_price: float    # where the synthetic market starts
    instrument_id: int
    strike: float | None = None
    option_type: str | None = None  # "call" | "put"
    price_decimals: int = field(init=False)
    amount_decimals: int = field(init=False)
    _exact_price: bool = field(init=False, repr=False)
    _exact_amount: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "price_decimals", _decimals(self.tick_size))
        object.__setattr__(self, "amount_decimals", _decimals(self.min_trade_amount))
        # steps like 0.5 or 10 are exact in binary: multiples need no rounding (a hot path for every message)
        object.__setattr__(self, "_exact_price", (self.tick_size * 1024).is_integer())
        object.__setattr__(self, "_exact_amount", (self.min_trade_amount * 1024).is_integer())

    @property
    def perpetual(self) -> bool:
        return self.expiration_ms == PERPETUAL_EXPIRY_MS

    def price(self, ticks: int) -> float:
        """Integer ticks -> wire price."""
        if self._exact_price:
            return ticks * self.tick_size
        return round(ticks * self.tick_size, self.price_decimals)

    def amount(self, lots: int) -> float:
        """Integer lots -> wire amount."""
        if self._exact_amount:
            return lots * self.min_trade_amount
        return round(lots * self.min_trade_amount, self.amount_decimals)

    def contracts(self, lots: int) -> float:
        """Integer lots -> number of contracts."""
        return round(lots * self.min_trade_amount / self.contract_size, 8)

    def to_ticks(self, price: float) -> int | None:
        """Wire price -> ticks, or None when the price is not a multiple of the tick size."""
        ticks = round(price / self.tick_size)
        return ticks if abs(ticks * self.tick_size - price) <= 1e-9 * max(1.0, abs(price)) else None

    def to_lots(self, amount: float) -> int | None:
        """Wire amount -> lots, or None when the amount is not a multiple of the lot."""
        lots = round(amount / self.min_trade_amount)
        return lots if abs(lots * self.min_trade_amount - amount) <= 1e-9 * max(1.0, abs(amount)) else None

    def to_json(self) -> dict[str, Any]:
        """The instrument as ``public/get_instruments`` returns it (keys of the real BTC-PERPETUAL sample)."""
        settlement = "perpetual" if self.perpetual else "month"
        data: dict[str, Any] = {
            "price_index": f"{self.currency.lower()}_usd",
            "kind": self.kind,
            "instrument_name": self.name,
            "maker_commission": self.maker_commission,
            "taker_commission": self.taker_commission,
            "instrument_type": "reversed" if self.inverse else "linear",
            "expiration_timestamp": self.expiration_ms,
            "creation_timestamp": 1534167754000,
            "is_active": True,
            "tick_size": self.tick_size,
            "contract_size": self.contract_size,
            "instrument_id": self.instrument_id,
            "min_trade_amount": self.min_trade_amount,
            "block_trade_commission": 0.00025,
            "block_trade_min_trade_amount": 200000 if self.kind == "future" else 25,
            "block_trade_tick_size": 0.01,
            "settlement_currency": self.currency,
            "settlement_period": settlement,
            "base_currency": self.currency,
            "counter_currency": "USD",
            "quote_currency": "USD" if self.kind == "future" else self.currency,
            "tick_size_steps": [],
        }
        if self.kind == "future":
            data.update(max_leverage=50, future_type="reversed", max_liquidation_commission=0.0075,
                        max_non_default_leverage=5)
        else:
            data.update(strike=self.strike, option_type=self.option_type)
        return data


def _expiry_ms(day: int, month: int, year: int) -> int:
    return calendar.timegm((year, month, day, 8, 0, 0)) * 1000


def default_expiry(today: dt.date | None = None) -> str:
    """The DMMMYY code of the last Friday of the month three months after ``today`` (a quarterly-like future)."""
    today = today or dt.datetime.now(dt.timezone.utc).date()
    month0 = today.month - 1 + 3
    year, month = today.year + month0 // 12, month0 % 12 + 1
    last = calendar.monthrange(year, month)[1]
    day = max(d for d in range(last - 6, last + 1) if dt.date(year, month, d).weekday() == 4)
    return f"{day}{_MONTHS[month - 1]}{year % 100:02d}"


def parse_instrument(name: str) -> Instrument:
    """Build an instrument from a Deribit name (BTC/ETH perpetuals, dated futures, options); ValueError if not."""
    iid = _FIXED_IDS.get(name, 200000 + zlib.crc32(name.encode()) % 800000)
    if m := _PERP.match(name):
        cur = m.group(1)
        tick, lot = (0.5, 10.0) if cur == "BTC" else (0.05, 1.0)
        return Instrument(name, "future", cur, tick, lot, lot, 0.0, 0.0005, True, PERPETUAL_EXPIRY_MS,
                          REFERENCE_PRICE[cur], iid)
    if m := _FUTURE.match(name):
        cur, day, mon, yy = m.group(1), int(m.group(2)), m.group(3), int(m.group(4))
        if mon not in _MONTHS:
            raise ValueError(f"unknown month {mon!r} in instrument {name!r}")
        tick, lot = (2.5, 10.0) if cur == "BTC" else (0.25, 1.0)
        return Instrument(name, "future", cur, tick, lot, lot, 0.0, 0.0005, True,
                          _expiry_ms(day, _MONTHS.index(mon) + 1, 2000 + yy), REFERENCE_PRICE[cur], iid)
    if m := _OPTION.match(name):
        cur, day, mon, yy = m.group(1), int(m.group(2)), m.group(3), int(m.group(4))
        if mon not in _MONTHS:
            raise ValueError(f"unknown month {mon!r} in instrument {name!r}")
        strike, is_call = float(m.group(5)), m.group(6) == "C"
        spot = REFERENCE_PRICE[cur]
        intrinsic = max(spot - strike, 0.0) if is_call else max(strike - spot, 0.0)
        premium = round((intrinsic / spot + 0.02) / 0.0005) * 0.0005  # in coin, as Deribit quotes options
        return Instrument(name, "option", cur, 0.0005, 0.1, 1.0, 0.0003, 0.0003, False,
                          _expiry_ms(day, _MONTHS.index(mon) + 1, 2000 + yy), premium, iid,
                          strike=strike, option_type="call" if is_call else "put")
    raise ValueError(f"unsupported instrument name {name!r} (use BTC|ETH-PERPETUAL, BTC-27DEC26, BTC-27DEC26-90000-C)")


def default_instrument_names(today: dt.date | None = None) -> list[str]:
    """BTC-PERPETUAL, ETH-PERPETUAL, one dated BTC future and two BTC options on the same expiry."""
    exp = default_expiry(today)
    return ["BTC-PERPETUAL", "ETH-PERPETUAL", f"BTC-{exp}", f"BTC-{exp}-95000-C", f"BTC-{exp}-85000-P"]


def parse_instruments(spec: str | None) -> list[Instrument]:
    """Comma-separated names (empty: the default set) -> instruments; ValueError names the bad one."""
    names = [n.strip() for n in spec.split(",") if n.strip()] if spec else default_instrument_names()
    if len(set(names)) != len(names):
        raise ValueError("instrument names repeat")
    return [parse_instrument(n) for n in names]
