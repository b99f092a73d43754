#!/usr/bin/env python3
"""Order traffic for scripts/soak-memory: a day's orders at the simulator, placed directly.

    scripts/soak_orders.py REST_URL ORDERS_PER_SECOND STOP_FILE

The demo's chains trade one at a time, a few orders a second: far too few to show in minutes
that the streamer's order state stays bounded over a day's orders (~215,000 at the chaos rate).
This driver places orders at storm-sim over REST with the demo account's key (the account the
streamer follows), so every order reaches the streamer as execution reports, exactly as the
executor's do:

  * each is a LIMIT GTC buy of a small fixed size 5 % under the bid on one of a few liquid
    symbols (it rests: an open order), cancelled by client id straight after (a closed order the
    streamer must later prune). Nothing fills, so the account is not drained: a first version
    that also sent market orders ran the demo account dry within five minutes (the sim's books
    are mispriced most of the time at the soak's rate, and every fill paid a fee), and from then
    on most orders were refused for insufficient balance.

It runs until STOP_FILE exists, paced at ORDERS_PER_SECOND over four connections, and prints one
line per 10 s and a final `orders=N placed ... errors=E` line on stdout. Key and secret come from
STORM_SIM_API_KEY / STORM_SIM_API_SECRET (config/demo.env); nothing is logged of them.

Python's standard library only (a fresh Debian has no `requests`).
"""
import hashlib
import hmac
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse
from decimal import ROUND_UP, Decimal

SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "ETHBTC"]
WORKERS = 4


class Venue:
    def __init__(self, url, key, secret):
        u = urllib.parse.urlparse(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=10)
        self.key, self.secret = key, secret.encode()

    def call(self, method, path, params=None, signed=False):
        params = dict(params or {})
        headers = {}
        if signed:
            params["timestamp"] = int(time.time() * 1000)
            params["recvWindow"] = 10000
            q = urllib.parse.urlencode(params)
            q += "&signature=" + hmac.new(self.secret, q.encode(), hashlib.sha256).hexdigest()
            headers["X-MBX-APIKEY"] = self.key
        else:
            q = urllib.parse.urlencode(params)
        for attempt in (1, 2):
            try:
                self.conn.request(method, f"{path}?{q}" if q else path, headers=headers)
                r = self.conn.getresponse()
                body = r.read()
                break
            except (OSError, http.client.HTTPException):
                self.conn.close()
                if attempt == 2:
                    raise
        if r.status == 429 or r.status == 418:
            time.sleep(float(r.getheader("Retry-After", "1")))
        return r.status, json.loads(body or b"{}")


def filters(venue):
    _, info = venue.call("GET", "/api/v3/exchangeInfo")
    out = {}
    for s in info["symbols"]:
        if s["symbol"] in SYMBOLS:
            f = {x["filterType"]: x for x in s["filters"]}
            out[s["symbol"]] = (
                Decimal(f["PRICE_FILTER"]["tickSize"]),
                Decimal(f["LOT_SIZE"]["stepSize"]),
                Decimal(f["LOT_SIZE"]["minQty"]),
                Decimal((f.get("NOTIONAL") or f.get("MIN_NOTIONAL") or {}).get("minNotional", "0")),
            )
    return out


def up_to(x, step):
    return (x / step).to_integral_value(rounding=ROUND_UP) * step


def sizes(venue, flt):
    """A quantity per symbol: 1.2 times the minimum notional at the current ask."""
    out = {}
    for sym, (tick, step, min_qty, min_notional) in flt.items():
        _, t = venue.call("GET", "/api/v3/ticker/bookTicker", {"symbol": sym})
        ask = Decimal(t["askPrice"])
        out[sym] = max(min_qty, up_to(min_notional * Decimal("1.2") / ask, step)).normalize()
    return out


class Counts:
    def __init__(self):
        self.lock = threading.Lock()
        self.placed = self.errors = 0
        self.last_error = ""

    def add(self, ok, err=""):
        with self.lock:
            if ok:
                self.placed += 1
            else:
                self.errors += 1
                self.last_error = err[:200]


def worker(wid, url, key, secret, rate, stop_file, counts, flt, qty):
    venue = Venue(url, key, secret)
    n = 0
    gap = 1.0 / rate
    next_at = time.monotonic()
    bids, bids_at = {}, 0.0
    while not os.path.exists(stop_file):
        sym = SYMBOLS[n % len(SYMBOLS)]
        cid = f"soak{wid}x{n}"
        try:
            if time.monotonic() - bids_at > 5:
                for s in SYMBOLS:
                    _, t = venue.call("GET", "/api/v3/ticker/bookTicker", {"symbol": s})
                    bids[s] = Decimal(t["bidPrice"])
                bids_at = time.monotonic()
            tick = flt[sym][0]
            price = (bids[sym] * Decimal("0.95") / tick).to_integral_value() * tick
            st, r = venue.call("POST", "/api/v3/order", {"symbol": sym, "side": "BUY", "type": "LIMIT",
                               "timeInForce": "GTC", "quantity": str(qty[sym]), "price": str(price.normalize()),
                               "newClientOrderId": cid}, signed=True)
            if st == 200:
                venue.call("DELETE", "/api/v3/order", {"symbol": sym, "origClientOrderId": cid}, signed=True)
            counts.add(st == 200, json.dumps(r))
        except (OSError, http.client.HTTPException, ValueError, KeyError) as e:
            counts.add(False, repr(e))
        n += 1
        next_at += gap
        pause = next_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        elif pause < -1.0:
            next_at = time.monotonic()  # behind by more than a second: do not burst to catch up


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    url, rate, stop_file = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    key, secret = os.environ["STORM_SIM_API_KEY"], os.environ["STORM_SIM_API_SECRET"]
    probe = Venue(url, key, secret)
    flt = filters(probe)
    qty = sizes(probe, flt)
    counts = Counts()
    threads = [threading.Thread(target=worker, args=(w, url, key, secret, rate / WORKERS, stop_file, counts, flt, qty),
                                daemon=True) for w in range(WORKERS)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    while any(t.is_alive() for t in threads):
        time.sleep(10)
        print(f"soak_orders: t={time.monotonic() - t0:.0f}s placed={counts.placed} errors={counts.errors}"
              + (f" last_error={counts.last_error}" if counts.errors else ""), flush=True)
    print(f"orders={counts.placed} placed errors={counts.errors} seconds={time.monotonic() - t0:.0f}", flush=True)


if __name__ == "__main__":
    main()
