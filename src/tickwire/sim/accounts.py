"""Accounts: positions with inverse (coin-margined) or linear P&L, fees, balances and the account summary."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tickwire.sim.instruments import Instrument
from tickwire.sim.mmp import MarketMakerProtection

INITIAL_BALANCE = {"BTC": 10.0, "ETH": 100.0}
TRANSACTIONS_KEPT = 10_000  # transaction log entries per account
LIMITS = {"matching_engine": {"rate": 30, "burst": 100}, "non_matching_engine": {"rate": 20, "burst": 100}}


@dataclass
class Position:
    """A position in one instrument: ``size`` signed in amount units (USD for futures, coin for options).

    ``entry`` is what was paid for the open size: coin value (size/price) for inverse, quote value (size*price)
    for linear; the average price follows from it, and realised P&L takes a proportional share on reduction.
    """

    instrument: Instrument
    size: float = 0.0
    entry: float = 0.0
    realized: float = 0.0

    @property
    def average_price(self) -> float:
        if self.size == 0 or self.entry == 0:
            return 0.0
        return abs(self.size) / self.entry if self.instrument.inverse else self.entry / abs(self.size)

    def pnl(self, qty: float, avg: float, price: float) -> float:
        """P&L in coin of a long of ``qty`` opened at ``avg`` and closed at ``price`` (negate for shorts)."""
        if self.instrument.inverse:
            return qty * (1.0 / avg - 1.0 / price)
        return qty * (price - avg)

    def apply_fill(self, signed_qty: float, price: float) -> float:
        """Add a fill (positive = buy); returns the realised P&L in coin."""
        realized = 0.0
        inverse = self.instrument.inverse
        if self.size != 0 and (self.size > 0) != (signed_qty > 0):
            closing = min(abs(signed_qty), abs(self.size))
            sign = 1.0 if self.size > 0 else -1.0
            realized = sign * self.pnl(closing, self.average_price, price)
            self.entry *= (abs(self.size) - closing) / abs(self.size)
            self.size -= sign * closing
            signed_qty += sign * closing
            if abs(self.size) < 1e-12:
                self.size, self.entry = 0.0, 0.0
        if signed_qty != 0:
            self.entry += abs(signed_qty) / price if inverse else abs(signed_qty) * price
            self.size += signed_qty
        self.realized += realized
        return realized

    def floating(self, mark: float) -> float:
        if self.size == 0 or mark <= 0:
            return 0.0
        return self.pnl(self.size, self.average_price, mark)

    def size_currency(self, mark: float) -> float:
        if self.instrument.inverse:
            return self.size / mark if mark > 0 else 0.0
        return self.size

    def to_json(self, mark: float, index: float) -> dict[str, Any]:
        """The Position object of ``private/get_position`` (keys of Deribit's real response)."""
        inst = self.instrument
        size_cur = self.size_currency(mark)
        floating = self.floating(mark)
        im = abs(size_cur) * 0.02 if inst.kind == "future" else 0.0
        data: dict[str, Any] = {
            "average_price": round(self.average_price, 8),
            "delta": round(size_cur, 9),
            "direction": "buy" if self.size > 0 else "sell" if self.size < 0 else "zero",
            "estimated_liquidation_price": None,
            "floating_profit_loss": round(floating, 9),
            "index_price": index,
            "initial_margin": round(im, 9),
            "instrument_name": inst.name,
            "kind": inst.kind,
            "leverage": 50,
            "maintenance_margin": round(im / 2, 9),
            "mark_price": mark,
            "open_orders_margin": 0.0,
            "realized_profit_loss": round(self.realized, 9),
            "settlement_price": mark,
            "size": self.size,
            "size_currency": round(size_cur, 9),
            "total_profit_loss": round(self.realized + floating, 9),
        }
        if inst.perpetual:
            data.update(interest_value=0.0, realized_funding=0.0)
        if inst.kind == "option":
            data.update(average_price_usd=round(self.average_price * index, 2),
                        floating_profit_loss_usd=round(floating * index, 2), gamma=0.0, vega=0.0, theta=0.0)
        return data


@dataclass
class Account:
    """One API user: balances per currency, positions per instrument, fees paid."""

    name: str
    user_id: int
    balances: dict[str, float] = field(default_factory=lambda: dict(INITIAL_BALANCE))
    positions: dict[str, Position] = field(default_factory=dict)
    fees: dict[str, float] = field(default_factory=dict)
    log: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=TRANSACTIONS_KEPT))
    mmp: MarketMakerProtection = field(default_factory=MarketMakerProtection)

    def position(self, inst: Instrument) -> Position:
        pos = self.positions.get(inst.name)
        if pos is None:
            pos = self.positions[inst.name] = Position(inst)
        return pos

    def fill(self, inst: Instrument, signed_qty: float, price: float, fee: float) -> float:
        """Book a fill: position, realised P&L and fee into the balance; returns the realised P&L."""
        realized = self.position(inst).apply_fill(signed_qty, price)
        cur = inst.currency
        self.balances[cur] = self.balances.get(cur, 0.0) + realized - fee
        self.fees[cur] = self.fees.get(cur, 0.0) + fee
        return realized

    def log_trade(self, inst: Instrument, trade: dict[str, Any], fee: float, pnl: float) -> None:
        """One ``private/get_transaction_log`` entry for a fill (booked right after ``fill``)."""
        cur = inst.currency
        seq = self.log[-1]["id"] + 1 if self.log else 1
        self.log.append({
            "id": seq,
            "timestamp": trade["timestamp"], "type": "trade", "instrument_name": inst.name,
            "side": trade["direction"], "amount": trade["amount"], "price": trade["price"],
            "position": self.positions[inst.name].size, "change": round(pnl - fee, 10),
            "cashflow": round(pnl - fee, 10), "commission": round(fee, 10),
            "balance": round(self.balances.get(cur, 0.0), 10), "currency": cur, "user_id": self.user_id,
            "username": self.name, "user_seq": seq, "trade_id": trade["trade_id"],
            "order_id": trade["order_id"], "info": {}, "interest_pl": 0.0, "total_interest_pl": 0.0,
        })

    def summary(self, currency: str, marks: dict[str, float], limits: dict[str, Any] | None = None
                ) -> dict[str, Any]:
        """``private/get_account_summary`` for one currency (the common, non-extended keys)."""
        positions = [p for p in self.positions.values() if p.instrument.currency == currency]
        fut = [p for p in positions if p.instrument.kind == "future"]
        opt = [p for p in positions if p.instrument.kind == "option"]
        fut_upl = sum(p.floating(marks.get(p.instrument.name, 0.0)) for p in fut)
        opt_upl = sum(p.floating(marks.get(p.instrument.name, 0.0)) for p in opt)
        rpl = sum(p.realized for p in positions)
        im = sum(abs(p.size_currency(marks.get(p.instrument.name, 0.0))) * 0.02 for p in fut)
        delta = sum(p.size_currency(marks.get(p.instrument.name, 0.0)) for p in positions)
        opt_value = sum(p.size * marks.get(p.instrument.name, 0.0) for p in opt)
        balance = self.balances.get(currency, 0.0)
        equity = balance + fut_upl + opt_upl
        r = lambda x: round(float(x), 9)  # noqa: E731 - local formatting helper
        return {
            "currency": currency, "balance": r(balance), "equity": r(equity), "margin_balance": r(equity),
            "available_funds": r(equity - im), "available_withdrawal_funds": r(max(0.0, balance - im)),
            "initial_margin": r(im), "maintenance_margin": r(im / 2), "projected_initial_margin": r(im),
            "projected_maintenance_margin": r(im / 2), "total_pl": r(rpl + fut_upl + opt_upl),
            "session_rpl": r(rpl), "session_upl": r(fut_upl + opt_upl), "futures_pl": r(fut_upl + sum(
                p.realized for p in fut)), "futures_session_rpl": r(sum(p.realized for p in fut)),
            "futures_session_upl": r(fut_upl), "options_pl": r(opt_upl + sum(p.realized for p in opt)),
            "options_session_rpl": r(sum(p.realized for p in opt)), "options_session_upl": r(opt_upl),
            "options_value": r(opt_value), "options_delta": r(sum(p.size for p in opt)), "options_gamma": 0.0,
            "options_vega": 0.0, "options_theta": 0.0, "delta_total": r(delta), "projected_delta_total": r(delta),
            "fee_balance": 0.0, "portfolio_margining_enabled": False, "cross_collateral_enabled": False,
            "margin_model": "segregated_sm", "estimated_liquidation_ratio": 0.0,
            "limits": limits if limits is not None else LIMITS, "spot_reserve": 0.0, "additional_reserve": 0.0,
        }
