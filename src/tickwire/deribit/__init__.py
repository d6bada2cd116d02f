"""The Deribit adapter: everything that knows Deribit, and nothing that knows a strategy.

- ``instruments``: the instrument table (name -> slot, exact tick and lot sizes)
- ``json_decode``: the compiled JSON decoder (``decode_read`` = one WebSocket read -> events and order answers),
  built from ``json_scan`` (keys, strings, exact numbers), ``json_md`` (book, trades, ticker notifications) and
  ``json_answers`` (order answers, errors);
  ``_ref``: its plain-Python (orjson) reference, also the slow path for what the compiled decoder hands over
- ``json_encode``: order requests (buy, sell, edit, cancel, cancel_all) as JSON-RPC bytes from compiled code
- ``sbe`` and ``sbe_encode``: the multicast SBE decoder and encoder; ``_sbe_ref``: the ``struct`` reference twin
- ``errors``: Deribit's error codes, one table for the engine and the simulator
- ``credits``: the client-side mirror of Deribit's credit rate limits
- ``session`` and ``transport``: the JSON-RPC session (auth, heartbeats, subscribe, reconnect) over a WebSocket client
- ``venue``: where to trade (the embedded simulator or a Deribit endpoint)
"""
