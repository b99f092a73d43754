"""ccxt's side of `storm-bench vs-ccxt`: ccxt.pro's Binance order books on storm-sim's feed.

Keeps the books of the given symbols with `watch_order_book_for_symbols` (ccxt's own snapshot +
diff maintenance, unchanged; only the base URLs point at the sim), and measures, inside a window
the bench announces on stdin:

* diffs applied: calls of ccxt's `handle_order_book_message` (one per diff applied to a book),
  counted by a thin wrapper;
* update latency: wall clock (us) when `watch_order_book_for_symbols` returns minus the book's
  `timestamp` (the event's `E`, whole milliseconds, the sim's clock = this host's clock);
* process CPU (getrusage, as a cross-check; the bench reads /proc/<pid>/stat itself);
* samples of (symbol id, nonce, best bid, best ask) to compare with storm's books.

Protocol: prints `READY` once every symbol has a book, then waits for `START <t0> <t1>` (epoch
seconds) on stdin, and prints one `RESULT <json>` line after t1.

Usage: python ccxt_books.py REST_URL WS_URL SYMBOL_ID[,SYMBOL_ID...] [SAMPLE_EVERY]
"""
import asyncio
import json
import resource
import sys
import time

import ccxt
import ccxt.pro as ccxtpro

REST, WS, IDS = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
SAMPLE_EVERY = int(sys.argv[4]) if len(sys.argv) > 4 else 20


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
    window = False
    returns = 0
    lat_us = []
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
        return original(client, message, orderbook)

    ex.handle_order_book_message = counted
    await ex.load_markets()
    symbols = []
    for i in IDS:
        m = ex.markets_by_id[i]
        symbols.append((m[0] if isinstance(m, list) else m)["symbol"])
    id_of = {s: i for s, i in zip(symbols, IDS)}

    async def watch():
        while True:
            ob = await ex.watch_order_book_for_symbols(symbols)
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
                    st.samples.append([id_of[sym], ob["nonce"], b[0], b[1], a[0], a[1]])

    watcher = asyncio.ensure_future(watch())
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    _, t0, t1 = line.split()
    t0, t1 = float(t0), float(t1)
    await asyncio.sleep(max(0.0, t0 - time.time()))
    a0, c0, w0 = st.applied, cpu_seconds(), time.time()
    st.window = True
    await asyncio.sleep(max(0.0, t1 - time.time()))
    st.window = False
    a1, c1, w1 = st.applied, cpu_seconds(), time.time()
    if watcher.done() and watcher.exception():
        raise watcher.exception()
    result = {
        "ccxt_version": ccxt.__version__,
        "python": sys.version.split()[0],
        "applied": a1 - a0,
        "returns": st.returns,
        "cpu_s": c1 - c0,
        "wall_s": w1 - w0,
        "lat_us": st.lat_us,
        "samples": st.samples,
    }
    print("RESULT " + json.dumps(result), flush=True)
    watcher.cancel()
    await ex.close()


asyncio.run(main())
