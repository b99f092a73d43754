#!/usr/bin/env python3
"""Poison opportunities for scripts/chaos: one entry on storm:opps that no executor can trade.

    scripts/chaos_poison.py PORT NAMESPACE VARIANT SEQ

Writes one entry shaped like the arbitrage's (plain fields `id`, `kind`, `venue`, `path`,
`profit_bps`, `size`, `asset`, `expires_ms`, `v`, and `m`, the msgpack of the opportunity with
named fields) whose values are poison of the kind VARIANT names, and prints its id. Every
executor must end it as one `rejected` outcome on storm:arb:log, acknowledge it and go on; the
chaos audit counts it like any other opportunity (exactly one outcome).

Python's standard library only (a fresh Debian has no msgpack module): a tiny msgpack encoder for
the types an opportunity holds, and RESP over a socket, so the binary `m` field reaches Redis
byte for byte.
"""
import socket
import struct
import sys
import time

BIG = "79228162514264337593543950335"  # Decimal::MAX: any product or sum with it overflows


def pack(v):
    if isinstance(v, bool):
        return b"\xc3" if v else b"\xc2"
    if isinstance(v, int):
        if v < 0:
            return b"\xd3" + struct.pack(">q", v)
        return b"\xcf" + struct.pack(">Q", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        return (bytes([0xA0 | len(b)]) if len(b) < 32 else b"\xd9" + bytes([len(b)])) + b
    if isinstance(v, list):
        return b"\xdc" + struct.pack(">H", len(v)) + b"".join(pack(x) for x in v)
    if isinstance(v, dict):
        return b"\xde" + struct.pack(">H", len(v)) + b"".join(pack(k) + pack(x) for k, x in v.items())
    raise TypeError(type(v))


def leg(symbol, side, price, qty):
    return {"venue": "sim", "symbol": symbol, "side": side, "price": price, "qty": qty}


def opportunity(variant, oid, now):
    legs = [
        leg("BTCUSDT", "BUY", "60000.00", "0.00100"),
        leg("ETHBTC", "BUY", "0.05000", "0.0200"),
        leg("ETHUSDT", "SELL", "3000.00", "0.0200"),
    ]
    opp = {
        "id": oid, "kind": "triangular", "venue": "sim", "path": "USDT>BTC>ETH>USDT",
        "asset": "USDT", "size": "60", "profit": "0.5", "profit_bps": "83.3", "confidence": 0.5,
        # A long expiry: the poison must reach the executor's arithmetic, not expire in the queue.
        "created_ms": now, "expires_ms": now + 30_000, "legs": legs, "book_ids": [1, 2, 3],
        "time_trigger_us": now * 1000,
    }
    if variant == "huge_qty":
        legs[0]["qty"] = BIG  # qty * price overflows
    elif variant == "huge_price":
        legs[1]["price"] = BIG
    elif variant == "huge_size":
        opp["size"] = BIG
        opp["profit"] = BIG
    elif variant == "negative":
        legs[2]["qty"] = "-0.0200"
        opp["size"] = "-60"
    elif variant == "tiny":
        legs[0]["qty"] = "0.0000000000000000000000000001"  # below every step and notional
    else:
        raise SystemExit(f"unknown variant {variant}")
    return opp


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def main():
    port, ns, variant, seq = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    now = int(time.time() * 1000)
    oid = f"poison-{variant}-{seq}"
    opp = opportunity(variant, oid, now)
    fields = [
        "id", oid, "kind", "triangular", "venue", "sim", "path", opp["path"],
        # The plain fields agree with the record (profit_bps as the finder spells it, two
        # decimals), so the executor's cross-check passes and the poison reaches the arithmetic.
        "profit_bps", "83.30", "size", opp["size"], "asset", "USDT",
        "expires_ms", str(opp["expires_ms"]), "v", "1", "m", pack(opp),
    ]
    with socket.create_connection(("127.0.0.1", int(port)), timeout=5) as s:
        s.sendall(resp("XADD", f"{ns}:opps", "*", *fields))
        reply = s.recv(256)
    if not reply.startswith(b"$"):
        raise SystemExit(f"XADD refused: {reply!r}")
    print(oid)


if __name__ == "__main__":
    main()
