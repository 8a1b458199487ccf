#!/usr/bin/env python3
"""Revoke on replica A, first 401 on replica B: how long does B keep
accepting a token that A has already revoked?

    revoke_latency.py A_URL B_URL ADMIN_TOKEN TOKENS_FILE [RAW_OUT]

TOKENS_FILE has one "api_key_id token" pair per line (created up front, ids
known). For each pair, in order:

 1. GET B/api/v1/user/cache with the token: must be 200, so B holds the token
    and its permission document in its cache (the case invalidation is for);
 2. DELETE A/api/v1/tokens/{id} as a global admin: must be 200; the clock
    starts when that response has been read (the revoke is committed);
 3. GET B/api/v1/user/cache with the token again and again, back to back on
    one keep-alive connection, until B answers 401; the clock stops when the
    401 has been read. The resolution is one round trip to B (well under a
    millisecond on loopback); a 401 on the very first poll counts as the
    time to that first answer.

Prints one JSON object: p50/p99/max/mean of the delay in ms (nearest-rank
percentiles), how many revokes were already visible on the first poll, the
revoke request's own p50, and failures (a poll still 200 after 10 s). Python 3
standard library only.
"""
import http.client
import json
import sys
import time
import urllib.parse

GIVE_UP_S = 10.0


class Conn:
    """One keep-alive HTTP/1.1 connection, reopened if the server closes it."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.c = None

    def request(self, method, path, token):
        for attempt in (0, 1):
            if self.c is None:
                self.c = http.client.HTTPConnection(self.host, self.port, timeout=10)
            try:
                self.c.request(method, path, headers={"Authorization": "Bearer " + token,
                                                      "Accept": "application/json"})
                r = self.c.getresponse()
                body = r.read()
                if r.getheader("connection", "").lower() == "close":
                    self.c.close()
                    self.c = None
                return r.status, body
            except (http.client.HTTPException, ConnectionError):
                self.c.close()
                self.c = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


def pct(sorted_ms, p):
    """Nearest-rank percentile."""
    k = max(0, min(len(sorted_ms) - 1, -(-len(sorted_ms) * p // 100) - 1))
    return sorted_ms[int(k)]


def main():
    a_url, b_url, admin, tokens_file = sys.argv[1:5]
    raw_out = sys.argv[5] if len(sys.argv) > 5 else None
    pairs = [line.split() for line in open(tokens_file) if line.strip()]
    a, b = Conn(a_url), Conn(b_url)
    # The admin's own document on A is loaded once here, not in the first revoke.
    status, _ = a.request("GET", "/api/v1/user/cache", admin)
    assert status == 200, f"admin token refused by A: {status}"
    delays, revoke_ms, polls, first_poll, failures = [], [], [], 0, 0
    for key_id, token in pairs:
        status, body = b.request("GET", "/api/v1/user/cache", token)
        if status != 200:
            raise SystemExit(f"token {key_id} not accepted by B before the revoke: {status} {body[:200]!r}")
        t_send = time.perf_counter()
        status, body = a.request("DELETE", f"/api/v1/tokens/{key_id}", admin)
        t0 = time.perf_counter()
        if status != 200:
            raise SystemExit(f"revoke of token {key_id} on A failed: {status} {body[:200]!r}")
        revoke_ms.append((t0 - t_send) * 1000)
        n = 0
        while True:
            n += 1
            status, _ = b.request("GET", "/api/v1/user/cache", token)
            t1 = time.perf_counter()
            if status == 401:
                break
            if status != 200:
                raise SystemExit(f"unexpected {status} from B for token {key_id}")
            if t1 - t0 > GIVE_UP_S:
                failures += 1
                break
        if status == 401:
            delays.append((t1 - t0) * 1000)
            polls.append(n)
            first_poll += n == 1
    if raw_out:
        with open(raw_out, "w") as f:
            f.write("\n".join(f"{d:.3f}" for d in delays) + "\n")
    d = sorted(delays)
    out = {
        "revocations": len(pairs),
        "measured": len(d),
        "failures_over_10s": failures,
        "p50_ms": round(pct(d, 50), 3) if d else None,
        "p99_ms": round(pct(d, 99), 3) if d else None,
        "max_ms": round(d[-1], 3) if d else None,
        "mean_ms": round(sum(d) / len(d), 3) if d else None,
        "visible_on_first_poll": first_poll,
        "polls_p50": sorted(polls)[len(polls) // 2] if polls else None,
        "revoke_request_p50_ms": round(pct(sorted(revoke_ms), 50), 3),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
