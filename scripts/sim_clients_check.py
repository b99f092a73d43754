"""Drive a running storm-sim with mainstream Binance clients, unchanged except for base URLs.

Used by scripts/sim-clients-check. Each check prints one line; the exit status is the number of
failed checks. Keys come from STORM_SIM_API_KEY / STORM_SIM_API_SECRET.
"""
import asyncio
import os
import sys
import traceback

REST = sys.argv[1]  # e.g. http://127.0.0.1:8765
WS = sys.argv[2]    # e.g. ws://127.0.0.1:8765
KEY = os.environ["STORM_SIM_API_KEY"]
SECRET = os.environ["STORM_SIM_API_SECRET"]
results = []


def check(name, fn):
    try:
        detail = fn()
        results.append((name, True, detail))
        print(f"ok    {name}: {detail}", flush=True)
    except Exception as e:  # noqa: BLE001 - report every failure and go on
        results.append((name, False, repr(e)))
        print(f"FAIL  {name}: {e!r}", flush=True)
        traceback.print_exc(limit=3)


REST_HOSTS = ("https://api.binance.com", "https://fapi.binance.com", "https://dapi.binance.com", "https://eapi.binance.com")
WS_HOSTS = ("wss://stream.binance.com:9443", "wss://stream.binance.com:443", "wss://ws-api.binance.com:443", "wss://ws-api.binance.com")


def rebase(urls):
    """Points every Binance spot, futures and options host of a ccxt client at the sim: only the
    hosts change, the paths stay ccxt's own."""
    for k, v in list(urls.items()):
        if isinstance(v, dict):
            rebase(v)
        elif isinstance(v, str):
            for host in REST_HOSTS:
                v = v.replace(host, REST)
            for host in WS_HOSTS:
                v = v.replace(host, WS)
            urls[k] = v


def ccxt_client(module):
    # ccxt's default options: load_markets also asks for the futures listings (and, with keys,
    # the margin pairs and the wallet's coin list), which the sim answers as a spot-only venue.
    ex = module.binance({"apiKey": KEY, "secret": SECRET})
    rebase(ex.urls["api"])
    return ex


def ccxt_checks():
    import ccxt

    ex = ccxt_client(ccxt)
    types = ex.options["fetchMarkets"]["types"]  # ccxt's default: spot, linear, inverse
    check("ccxt load_markets", lambda: f"{len(ex.load_markets())} markets (listings loaded: {', '.join(types)})")
    check("ccxt fetch_order_book", lambda: (lambda ob: f"BTC/USDT bid {ob['bids'][0]} ask {ob['asks'][0]}")(ex.fetch_order_book("BTC/USDT", 100)))
    state = {}

    def place():
        ob = ex.fetch_order_book("BTC/USDT", 5)
        o = ex.create_order("BTC/USDT", "limit", "buy", 0.001, ob["asks"][0][0], {"timeInForce": "IOC"})
        state["id"] = o["id"]
        return f"order {o['id']} status {o['status']} filled {o['filled']}"

    check("ccxt create_order (LIMIT IOC)", place)
    check("ccxt fetch_order", lambda: (lambda o: f"order {o['id']} status {o['status']}")(ex.fetch_order(state["id"], "BTC/USDT")))
    check("ccxt fetch_balance", lambda: f"USDT free {ex.fetch_balance()['USDT']['free']}")


def ccxt_pro_checks():
    import ccxt.pro as ccxtpro

    async def watch():
        ex = ccxt_client(ccxtpro)
        try:
            ob = None
            for _ in range(5):
                ob = await asyncio.wait_for(ex.watch_order_book("BTC/USDT"), 20)
            return f"BTC/USDT nonce {ob['nonce']} bid {ob['bids'][0]} ask {ob['asks'][0]}"
        finally:
            await ex.close()

    check("ccxt.pro watch_order_book (5 updates)", lambda: asyncio.run(watch()))


def python_binance_checks():
    from binance.client import Client

    c = Client(KEY, SECRET, ping=False)
    c.API_URL = REST + "/api"
    check("python-binance get_exchange_info", lambda: f"{len(c.get_exchange_info()['symbols'])} symbols")
    check("python-binance get_order_book", lambda: (lambda ob: f"lastUpdateId {ob['lastUpdateId']}")(c.get_order_book(symbol="ETHUSDT", limit=10)))
    state = {}

    def place():
        ob = c.get_order_book(symbol="ETHUSDT", limit=5)
        o = c.create_order(symbol="ETHUSDT", side="BUY", type="LIMIT", timeInForce="IOC", quantity="0.01", price=ob["asks"][0][0])
        state["id"] = o["orderId"]
        return f"order {o['orderId']} status {o['status']} executedQty {o['executedQty']}"

    check("python-binance create_order (LIMIT IOC)", place)
    check("python-binance get_order", lambda: (lambda o: f"status {o['status']}")(c.get_order(symbol="ETHUSDT", orderId=state["id"])))
    check("python-binance get_account", lambda: f"{len(c.get_account()['balances'])} balances")


for group in (ccxt_checks, python_binance_checks, ccxt_pro_checks):
    try:
        group()
    except Exception as e:  # noqa: BLE001
        results.append((group.__name__, False, repr(e)))
        print(f"FAIL  {group.__name__}: {e!r}", flush=True)

failed = sum(1 for _, ok, _ in results if not ok)
print(f"{len(results) - failed} passed, {failed} failed")
sys.exit(failed)
