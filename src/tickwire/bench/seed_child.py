"""One client of the seed benchmark in its own process: ``python -m tickwire.bench.seed_child after|before``.

Reads a :class:`~tickwire.bench.load.LoadSpec` as JSON on stdin (the venue credentials come from the
environment, TICKWIRE_CLIENT_ID / TICKWIRE_CLIENT_SECRET, never from the command line), runs the client and
writes its :class:`~tickwire.bench.load.ClientOutcome` as one JSON line on stdout.
"""
from __future__ import annotations

import asyncio
import json
import sys

from tickwire.bench.load import LoadSpec
from tickwire.deribit.session import Credentials


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("after", "before"):
        print("usage: python -m tickwire.bench.seed_child after|before < spec.json", file=sys.stderr)
        return 2
    spec = LoadSpec.from_json(json.loads(sys.stdin.read()))
    creds = Credentials.load()
    if argv[0] == "after":
        import uvloop

        from tickwire.bench.client_after import run_after

        out = uvloop.run(run_after(spec, creds))
    else:
        from tickwire.bench.client_before import run_before
        from tickwire.deribit.venue import fetch_instruments

        infos = {i["instrument_name"]: i for i in fetch_instruments(spec.http, spec.instruments)}
        lots = [float(infos[name]["min_trade_amount"]) for name in spec.instruments]
        out = asyncio.run(run_before(spec, creds, float(infos[spec.instruments[0]]["tick_size"]), lots))
    sys.stdout.write(json.dumps(out.to_json()) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
