"""ccxt's side of `storm-bench vs-ccxt`: ccxt.pro's Binance order books on storm-sim's feed.

Keeps the books of the given symbols with `watch_order_book_for_symbols` (ccxt's own snapshot +
diff maintenance, unchanged; only the base URLs point at the sim), and measures, inside a window
the bench announces on stdin:

* diffs applied: calls of ccxt's `handle_order_book_message` (one per diff applied to a book),
  counted by a thin wrapper, and the price levels they carried;
* update latency: wall clock (us) when `watch_order_book_for_symbols` returns minus the book's
  `timestamp` (the event's `E`, whole milliseconds, the sim's clock = this host's clock), and
  for every diff, when ccxt has applied it to its book minus its `E`;
* process CPU (getrusage, as a cross-check; the bench reads /proc/<pid>/stat itself);
* samples of (symbol id, nonce, best bid px/qty, best ask px/qty as decimal strings) to compare
  with storm's books;
* errors raised by a watch (e.g. ChecksumError on a gap), after which it watches again.

Protocol: prints `READY` once every symbol has a book, then waits for `START <t0> <t1>` (epoch
seconds) on stdin, and prints one `RESULT <json>` line after t1.

Usage: python ccxt_books.py REST_URL WS_URL SYMBOL_ID[,SYMBOL_ID...] [SAMPLE_EVERY]
"""
import asyncio
import decimal
import json
import resource
import sys
import time

import ccxt
import ccxt.pro as ccxtpro

REST, WS, IDS = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
SAMPLE_EVERY = int(sys.argv[4]) if len(sys.argv) > 4 else 20
# ccxt's watch_order_book_for_symbols takes at most 200 symbols per call (one connection each).
CHUNK = 200


def plain(x):
    """A float of ccxt's book as a plain decimal string (shortest repr, no exponent), so the bench
    compares prices and quantities as decimals, never as floats."""
    return format(decimal.Decimal(repr(x)), "f")


def rebase(urls):
    """Points every Binance spot URL of the client at the sim: only the hosts change."""
    for k, v in list(urls.items()):
        if isinstance(v, dict):
            rebase(v)
        elif isinstance(v, str):
            v = v.replace("https://api.binance.com", REST)
            for host in ("wss://stream.binance.com:9443", "wss://stream.binance.com:443"):
                v = v.replace(host, WS)
            urls[k] = v


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class State:
    applied = 0
    levels = 0
    window = False
    returns = 0
    errors = 0
    lat_us = []
    apply_lat_us = []
    samples = []
    seen = set()
    ready = False


async def main():
    # Spot only, as a spot user configures ccxt (otherwise it also loads futures markets and
    # asks for currencies, which need signed endpoints).
    ex = ccxtpro.binance({"options": {"fetchMarkets": ["spot"], "fetchCurrencies": False}})
    rebase(ex.urls["api"])
    st = State()
    original = ex.handle_order_book_message

    def counted(client, message, orderbook):
        st.applied += 1
        st.levels += len(message.get("a", ())) + len(message.get("b", ()))
        book = original(client, message, orderbook)
        if st.window and isinstance(message.get("E"), int):
            st.apply_lat_us.append(time.time_ns() // 1000 - message["E"] * 1000)
        return book

    ex.handle_order_book_message = counted
    await ex.load_markets()
    symbols = []
    for i in IDS:
        m = ex.markets_by_id[i]
        symbols.append((m[0] if isinstance(m, list) else m)["symbol"])
    id_of = {s: i for s, i in zip(symbols, IDS)}

    async def watch(chunk):
        while True:
            try:
                ob = await ex.watch_order_book_for_symbols(chunk)
            except (ccxt.NetworkError, ccxt.ExchangeError) as e:
                # What a ccxt user does: note it and watch again (ccxt then re-fetches the
                # snapshot of a book it dropped, e.g. after a gap's ChecksumError).
                st.errors += 1
                if st.errors <= 5:
                    print(f"ccxt error (watching again): {type(e).__name__}: {e}", file=sys.stderr, flush=True)
                await asyncio.sleep(0.1)
                continue
            now_us = time.time_ns() // 1000
            sym = ob["symbol"]
            if not st.ready:
                st.seen.add(sym)
                if len(st.seen) == len(symbols):
                    st.ready = True
                    print("READY", flush=True)
            if st.window and ob.get("timestamp"):
                st.returns += 1
                st.lat_us.append(now_us - ob["timestamp"] * 1000)
                if st.returns % SAMPLE_EVERY == 0 and ob["bids"] and ob["asks"]:
                    b, a = ob["bids"][0], ob["asks"][0]
                    st.samples.append([id_of[sym], ob["nonce"], plain(b[0]), plain(b[1]), plain(a[0]), plain(a[1])])

    watcher = asyncio.gather(*[asyncio.ensure_future(watch(symbols[i : i + CHUNK])) for i in range(0, len(symbols), CHUNK)])
    # The bench's START line, unless a watcher dies first (then fail loudly, not hang).
    reader = asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    done, _ = await asyncio.wait([watcher, reader], return_when=asyncio.FIRST_COMPLETED)
    if watcher in done:
        watcher.result()
        raise RuntimeError("the ccxt watchers ended")
    parts = reader.result().split()
    if len(parts) != 3 or parts[0] != "START":
        raise SystemExit(f"expected 'START <t0> <t1>' on stdin, got {parts!r}")
    t0, t1 = float(parts[1]), float(parts[2])
    await asyncio.sleep(max(0.0, t0 - time.time()))
    a0, c0, w0, e0, l0 = st.applied, cpu_seconds(), time.time(), st.errors, st.levels
    st.window = True
    await asyncio.sleep(max(0.0, t1 - time.time()))
    st.window = False
    a1, c1, w1, e1, l1 = st.applied, cpu_seconds(), time.time(), st.errors, st.levels
    if watcher.done():
        watcher.result()
    result = {
        "ccxt_version": ccxt.__version__,
        "python": sys.version.split()[0],
        "applied": a1 - a0,
        "levels": l1 - l0,
        "returns": st.returns,
        "errors": e1 - e0,
        "cpu_s": c1 - c0,
        "wall_s": w1 - w0,
        "lat_us": st.lat_us,
        "apply_lat_us": st.apply_lat_us,
        "samples": st.samples,
    }
    print("RESULT " + json.dumps(result), flush=True)
    watcher.cancel()
    try:
        await watcher
    except (asyncio.CancelledError, Exception):
        pass
    await ex.close()


asyncio.run(main())
