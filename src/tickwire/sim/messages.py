"""JSON shapes of Deribit objects (orders, trades, tickers, books), keys and types as in the real samples."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tickwire.sim.matching import BUY, SELL, Order

if TYPE_CHECKING:
    from tickwire.sim.exchange import InstrumentState
    from tickwire.sim.instruments import Instrument


def direction(side: int) -> str:
    return "buy" if side == BUY else "sell"


def order_json(inst: Instrument, o: Order, user_id: int) -> dict[str, Any]:
    """The Order object (as in buy/edit/cancel responses and user.orders)."""
    filled = o.filled
    data: dict[str, Any] = {
        "label": o.label,
        "price": inst.price(o.price) if o.price is not None else 0.0,
        "user_id": user_id,
        "amount": inst.amount(o.lots),
        "direction": direction(o.side),
        "time_in_force": o.tif,
        "instrument_name": inst.name,
        "web": False,
        "api": True,
        "order_id": str(o.oid),
        "creation_timestamp": o.created_ms,
        "replaced": o.replaced,
        "filled_amount": inst.amount(filled),
        "last_update_timestamp": o.updated_ms,
        "post_only": o.post_only,
        "reduce_only": o.reduce_only,
        "average_price": round(o.notional / filled * inst.tick_size, inst.price_decimals + 4) if filled else 0.0,
        "mmp": o.mmp,
        "contracts": inst.contracts(o.lots),
        "reject_post_only": o.reject_post_only,
        "order_state": o.state,
        "order_type": o.type,
        "is_liquidation": False,
        "risk_reducing": False,
    }
    if o.state == "cancelled" and o.cancel_reason:
        data["cancel_reason"] = o.cancel_reason
    if o.quote is not None:
        data.update(quote=True, quote_id=o.quote[0], quote_set_id=o.quote[1], mmp_group=o.quote[2])
    return data


def public_trade_json(st: InstrumentState, trade_id: int, seq: int, now_ms: int, price: int, lots: int,
                      taker_side: int, tick_direction: int) -> dict[str, Any]:
    """A public trade (``trades.*`` channels; direction is the taker's)."""
    inst = st.inst
    return {
        "timestamp": now_ms,
        "price": inst.price(price),
        "amount": inst.amount(lots),
        "direction": direction(taker_side),
        "index_price": st.index,
        "instrument_name": inst.name,
        "trade_seq": seq,
        "mark_price": st.mark,
        "tick_direction": tick_direction,
        "contracts": inst.contracts(lots),
        "trade_id": str(trade_id),
    }


def user_trade_json(public: dict[str, Any], o: Order, liquidity: str, fee: float, fee_currency: str,
                    profit_loss: float) -> dict[str, Any]:
    """A user trade: the public trade seen from one side (``direction`` is that order's)."""
    data = dict(public)
    data.update(
        order_id=str(o.oid), order_type=o.type, direction=direction(o.side), liquidity=liquidity,
        fee=round(fee, 10), fee_currency=fee_currency, state=o.state, label=o.label, post_only=o.post_only,
        reduce_only=o.reduce_only, mmp=o.mmp, risk_reducing=False, api=True, profit_loss=round(profit_loss, 10),
        matching_id=None,
    )
    return data


def _best(st: InstrumentState) -> tuple[float, float, float, float]:
    book, inst = st.book, st.inst
    bid, ask = book.best(BUY), book.best(SELL)
    return (inst.price(bid) if bid is not None else 0.0, inst.amount(book.totals[BUY][bid]) if bid is not None else 0.0,
            inst.price(ask) if ask is not None else 0.0,
            inst.amount(book.totals[SELL][ask]) if ask is not None else 0.0)


def _market_fields(st: InstrumentState, now_ms: int) -> dict[str, Any]:
    inst = st.inst
    bid_p, bid_a, ask_p, ask_a = _best(st)
    band = st.mark * 0.015
    data: dict[str, Any] = {
        "timestamp": now_ms,
        "state": "open",
        "stats": {
            "high": st.high if st.high is not None else st.mark,
            "low": st.low if st.low is not None else st.mark,
            "price_change": round((st.last_price_or_mark() / inst.reference_price - 1) * 100, 4),
            "volume": round(st.volume, 8),
            "volume_usd": round(st.volume_usd, 2),
            "volume_notional": round(st.volume_usd, 2),
        },
        "index_price": st.index,
        "instrument_name": inst.name,
        "last_price": st.last_price_or_mark(),
        "settlement_price": st.settlement,
        "min_price": inst.price(round((st.mark - band) / inst.tick_size)),
        "max_price": inst.price(round((st.mark + band) / inst.tick_size)),
        "open_interest": float(inst.amount(st.open_interest)),
        "mark_price": st.mark,
        "best_ask_price": ask_p,
        "best_bid_price": bid_p,
        "estimated_delivery_price": st.index,
        "best_ask_amount": ask_a,
        "best_bid_amount": bid_a,
    }
    if inst.perpetual:
        funding = st.funding_8h
        data.update(interest_value=0.0, current_funding=funding, funding_8h=funding)
    if inst.kind == "option":
        data.update(underlying_price=st.index, underlying_index="index_price", interest_rate=0.0, mark_iv=50.0,
                    bid_iv=49.0, ask_iv=51.0,
                    greeks={"delta": 0.5, "gamma": 0.0, "vega": 0.0, "theta": 0.0, "rho": 0.0})
    return data


def ticker_json(st: InstrumentState, now_ms: int) -> dict[str, Any]:
    """``ticker.{instrument}.*`` data / ``public/ticker`` result."""
    return _market_fields(st, now_ms)


def order_book_json(st: InstrumentState, depth: int, now_ms: int) -> dict[str, Any]:
    """``public/get_order_book`` result (with change_id)."""
    data = _market_fields(st, now_ms)
    del data["estimated_delivery_price"]
    inst, book = st.inst, st.book
    data["bids"] = [[inst.price(p), inst.amount(a)] for p, a in book.depth(BUY, depth)]
    data["asks"] = [[inst.price(p), inst.amount(a)] for p, a in book.depth(SELL, depth)]
    data["change_id"] = st.change_id
    return data


def quote_json(st: InstrumentState, now_ms: int) -> dict[str, Any]:
    """``quote.{instrument}`` data."""
    bid_p, bid_a, ask_p, ask_a = _best(st)
    return {"timestamp": now_ms, "instrument_name": st.inst.name, "best_bid_price": bid_p, "best_bid_amount": bid_a,
            "best_ask_price": ask_p, "best_ask_amount": ask_a}


def snapshot_levels(st: InstrumentState, side: int, depth: int | None = None) -> list[list[Any]]:
    """``[["new", price, amount], ...]`` best first, for a book snapshot message."""
    inst = st.inst
    return [["new", inst.price(p), inst.amount(a)] for p, a in st.book.depth(side, depth)]


def book_summary_json(st: InstrumentState, now_ms: int) -> dict[str, Any]:
    """One entry of ``public/get_book_summary_by_currency`` / ``_by_instrument``."""
    inst = st.inst
    bid_p, _, ask_p, _ = _best(st)
    data: dict[str, Any] = {
        "instrument_name": inst.name, "base_currency": inst.currency,
        "quote_currency": "USD" if inst.kind == "future" else inst.currency,
        "volume": round(st.volume, 8), "volume_usd": round(st.volume_usd, 2),
        "volume_notional": round(st.volume_usd, 2),
        "price_change": round((st.last_price_or_mark() / inst.reference_price - 1) * 100, 4),
        "open_interest": float(inst.amount(st.open_interest)), "mark_price": st.mark,
        "last": st.inst.price(st.last_trade) if st.last_trade is not None else None,
        "high": st.high, "low": st.low, "bid_price": bid_p or None, "ask_price": ask_p or None,
        "mid_price": (bid_p + ask_p) / 2 if bid_p and ask_p else None,
        "estimated_delivery_price": st.index, "creation_timestamp": now_ms,
    }
    if inst.perpetual:
        funding = st.funding_8h
        data.update(funding_8h=funding, current_funding=funding)
    if inst.kind == "option":
        data.update(underlying_price=st.index, underlying_index="index_price", interest_rate=0.0, mark_iv=50.0)
    return data


__all__ = ["order_json", "public_trade_json", "user_trade_json", "ticker_json", "order_book_json",
           "book_summary_json", "quote_json", "snapshot_levels", "direction"]
