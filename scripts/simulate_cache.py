#!/usr/bin/env python3
"""Simulates the two-tier authorizer cache (API Gateway cache + in-process LRU).

    python3 scripts/simulate_cache.py            # reference workload, writes docs
    python3 scripts/simulate_cache.py --quick    # small scale, seconds, writes nothing

Analytic per-token formulas summed over Zipf ranks (bucketed geometrically),
checked against a discrete-event Monte Carlo at small scale. Prints markdown,
writes docs/images/cache-simulation.svg and the marked section of
docs/performance.md. Standard library only; fixed seed.
"""
import argparse
import math
import random
import sys
from bisect import bisect_left
from collections import OrderedDict, deque
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRICE_SOURCE = ("the team's reference/authorizer-cache.md, section Prices (us-east-1 list "
                "prices; DynamoDB on-demand prices since 1 November 2024)")
LAMBDA_PER_REQUEST = 0.20e-6
LAMBDA_GB_SECOND = 0.0000133334
RCU_PRICE = 0.125e-6
WCU_PRICE = 0.625e-6
HTTP_API_PER_M = 1.00
TARGET_PER_M = 0.05
RECENT_WINDOW = 300.0          # "--recent-share" counts credentials used in the last 5 minutes
FEED_WINDOW = 60.0             # the feed item holds the last 60 s of change keys
FEED_ENTRY_BYTES, FEED_BASE_BYTES, DDB_ITEM_LIMIT = 50, 100, 400 * 1024
FLUSH_CALL_LATENCY = 0.1
BEGIN, END = "<!-- cache-simulation:begin -->", "<!-- cache-simulation:end -->"


@dataclass(frozen=True)
class Params:
    rps: float = 10_000
    tokens: int = 1_000_000
    zipf_s: float = 1.1
    routes: int = 5
    sources: int = 2
    change_rate: float = 0.5
    recent_share: float = 0.10      # negative: changes fall uniformly on active tokens
    principal_share: float = 0.0
    ttl: float = 15                  # template.yaml AuthorizerResultTtl
    last_used_interval: float = 300  # U
    window: float = 0.3              # W, flush coalescing (FLUSH_WINDOW_MS)
    deadline: float = 0.4            # D
    margin: float = 0.3              # m
    quota_rps: float = 10
    quota_burst: float = 40
    instances: int = 50              # M
    capacity: int = 10_000           # C, 0 disables tier 1
    max_age: float = 300             # A
    feed_interval: float = 0.25      # F (REVOCATION_FEED_INTERVAL_MS)
    stream_lag: float = 0.5
    billed_ms_hit: float = 1
    billed_ms_miss: float = 6
    memory_mb: float = 128


def quick_params(p: Params) -> Params:
    """Small scale for the Monte Carlo: tier-1 capacity scaled with the token count so LRU still evicts."""
    return replace(p, tokens=10_000, rps=200, instances=10, capacity=100)


# ---------------------------------------------------------------- popularity

def zipf_buckets(n: int, s: float, head: int = 2000, ratio: float = 1.01):
    """(token count, probability of each token) per bucket: exact ranks up to head, then
    geometric buckets (the integral of x^-s over each), so 1M tokens cost ~2,600 terms."""
    weights = [(1, i ** -s) for i in range(1, min(n, head) + 1)]
    a = head + 1
    while a <= n:
        b = min(n + 1, max(a + 1, int(a * ratio)))
        mass = ((a - 0.5) ** (1 - s) - (b - 0.5) ** (1 - s)) / (s - 1) if s != 1 else math.log((b - 0.5) / (a - 0.5))
        weights.append((b - a, mass / (b - a)))
        a = b
    total = sum(k * w for k, w in weights)
    return [(k, w / total) for k, w in weights]


# ---------------------------------------------------------------- hit-rate formulas

def exp_life(rate: float, cap: float) -> float:
    """E[min(cap, Exp(rate))]: mean life of an entry capped at `cap` and killed at Poisson `rate`."""
    if cap <= 0:
        return 0.0
    return cap if rate <= 0 else -math.expm1(-rate * cap) / rate


def renewal_hit(lam: float, life: float) -> float:
    """Poisson requests at lam, each entry living `life` on average from its insertion: a cycle is
    one miss plus lam*life hits (memoryless kills), so hit = lam*L/(1+lam*L)."""
    return lam * life / (1 + lam * life)


def periodic_flush_hit(lam: float, period: float) -> float:
    """The reference file's formula: a stage flush every `period` s (< TTL): one miss per period with a request."""
    x = lam * period
    return 1 + math.expm1(-x) / x if x > 0 else 0.0


def reference_table(p: Params):
    """The reference's hit-rate table (Zipf s x flush period, 10k rps, 1M tokens, key = token)."""
    rows = {}
    for s in (0.8, 1.0, 1.2):
        buckets = zipf_buckets(1_000_000, s)
        lam = [(k * q, 10_000 * q) for k, q in buckets]
        row = [sum(m * renewal_hit(l, 300) for m, l in lam)]
        row += [sum(m * periodic_flush_hit(l, f) for m, l in lam) for f in (1, 10, 60)]
        row += [sum(m * renewal_hit(l, exp_life(1 / f, 300)) for m, l in lam) for f in (1, 10, 60)]
        rows[s] = row
    return rows


# ---------------------------------------------------------------- flushes

def flush_worthy_share(p: Params, buckets, window: float) -> float:
    """Probability that a changed credential was used in the last `window` s (TTL + U).
    Default: changes fall uniformly on tokens. With --recent-share r: a share r of changes picks
    uniformly among tokens used in the last 300 s, the rest among the others, and each class's
    chance of use within `window` comes from the token's Zipf rate (Poisson)."""
    rates = [(k, p.rps * q) for k, q in buckets]
    if p.recent_share < 0:
        return sum(k * -math.expm1(-l * window) for k, l in rates) / p.tokens
    recent = sum(k * -math.expm1(-l * RECENT_WINDOW) for k, l in rates)
    if window <= RECENT_WINDOW:
        return p.recent_share * sum(k * -math.expm1(-l * window) for k, l in rates) / recent
    idle = p.tokens - recent
    late = sum(k * math.exp(-l * RECENT_WINDOW) * -math.expm1(-l * (window - RECENT_WINDOW)) for k, l in rates)
    return p.recent_share + (1 - p.recent_share) * late / idle


def token_change_rates(p: Params, buckets):
    """Changes per second falling on one token of each bucket (the tier-1 drops), same model as above."""
    if p.recent_share < 0:
        return [p.change_rate / p.tokens] * len(buckets)
    rec = [-math.expm1(-p.rps * q * RECENT_WINDOW) for _, q in buckets]
    s_rec = sum(k * r for (k, _), r in zip(buckets, rec))
    s_idle = p.tokens - s_rec
    return [p.change_rate * (p.recent_share * r / s_rec + (1 - p.recent_share) * (1 - r) / s_idle) for r in rec]


def flush_clusters(nu: float, window: float, delay: float):
    """Flush process for flush-worthy changes (Poisson, rate nu), each needing a flush at once and
    one `delay` later, at most one flush per `window`: returns (flushes/s, mean flushes per busy
    period n, rate of the exponential idle gap). Flushes come in busy periods W apart; a period
    of n flushes ends with a gap of W + Exp(idle rate), so the rate is n / (nW + 1/idle).
    For delay < window, after a flush at f the next one is at f + W iff a change falls in
    (f - delay, f + W]; successive intervals overlap by `delay`, so a two-state chain (was there
    a change in the overlap?) gives n exactly."""
    if nu <= 0:
        return 0.0, 0.0, 0.0
    if delay >= window:  # second needs land outside the window: treat needs as Poisson at 2 nu
        n = math.exp(2 * nu * window)
        return n / (n * window + 1 / (2 * nu)), n, 2 * nu
    a = -math.expm1(-nu * delay)
    g = -math.expm1(-nu * (window - delay))
    q00, q01, q10, q11 = (1 - a) * g, a, 1 - a, a
    det = (1 - q00) * (1 - q11) - q01 * q10          # = (1-a)^2 (1-g): the chance a period ends
    if det < 1e-300:
        return 1 / window, math.inf, nu
    v0 = ((1 - q11) + q01) / det                       # (I - Q)^-1 1
    v1 = ((1 - q00) + q10) / det
    n = 1 + (1 - a) * v0 + a * v1
    return n / (n * window + 1 / nu), n, nu


def clustered_flush_hit(lam: float, ttl: float, window: float, n: float, idle: float) -> float:
    """Hit ratio of one key (Poisson, lam) under that flush process: misses per flush interval
    over requests per interval (exact for Poisson requests, any interval sequence). Of every n
    intervals, n - 1 last W (one miss if a request comes: 1 - e^(-lam W)) and one W + Exp(idle):
    after its first W the key is empty, or holds an entry with T - W + s left (first request at s);
    then an empty key costs M0 = E[misses in Exp(idle)] = L1 / (1 - L) (Laplace transforms of the
    miss renewal process: first miss Exp(lam), then T + Exp(lam))."""
    if n == 0:
        return renewal_hit(lam, ttl)
    if ttl < window:                      # not derived: entries expire between flushes
        return renewal_hit(lam, exp_life(n / (n * window + 1 / idle), ttl))
    short = -math.expm1(-lam * window)
    if n == math.inf:
        return 1 - short / (lam * window)
    l1 = lam / (lam + idle)
    m0 = l1 / (1 - math.exp(-idle * ttl) * l1)
    held = lam * math.exp(-idle * (ttl - window)) * -math.expm1(-(lam + idle) * window) / (lam + idle)
    misses = (n - 1) * short + short + m0 * (1 - short + held)
    return 1 - misses / (lam * (n * window + 1 / idle))


# ---------------------------------------------------------------- tier 1

def lru_alive(x: float, t_c: float, max_age: float, c: float) -> float:
    """Mean life of a tier-1 entry: LRU eviction after t_c s without a request (Che), age-out at
    max_age from insertion, drop at change rate c. LRU life Z = t_c if no request comes within
    t_c (prob e^(-x t_c)), else t_c + an exponential tail matched to E[Z] = (e^(x t_c) - 1)/x."""
    p = -math.expm1(-x * t_c) if t_c != math.inf else 1.0
    if t_c == math.inf or x * t_c > 50:
        return exp_life(c, max_age)
    if max_age <= t_c or p < 1e-12:
        return exp_life(c, min(max_age, t_c))
    tail = (math.expm1(x * t_c) / x - t_c) / p
    k = 1 / tail + c
    return exp_life(c, t_c) + p * math.exp(-c * t_c) * -math.expm1(-k * (max_age - t_c)) / k


def tier1(p: Params, buckets, inv_rates, drops):
    """Tier-1 hit ratio of invocations and the Che characteristic time: each instance sees
    inv/M of a token; occupancy (= hit ratio, PASTA) summed over tokens equals C."""
    if p.capacity <= 0 or sum(inv_rates) == 0:
        return 0.0, 0.0
    per = [(k, mu / p.instances, c) for (k, _), mu, c in zip(buckets, inv_rates, drops)]

    def occupancy(t_c):
        return [renewal_hit(x, lru_alive(x, t_c, p.max_age, c)) for _, x, c in per]

    def used(t_c):
        return sum(k * o for (k, _, _), o in zip(per, occupancy(t_c)))

    t_c = math.inf
    if used(math.inf) > p.capacity:
        lo, hi = math.log(1e-4), math.log(1e7)
        for _ in range(45):
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if used(math.exp(mid)) > p.capacity else (mid, hi)
        t_c = math.exp(lo)
    hits = sum(k * mu * o for (k, _), mu, o in zip(buckets, inv_rates, occupancy(t_c)))
    return hits / sum(k * mu for (k, _), mu in zip(buckets, inv_rates)), t_c


# ---------------------------------------------------------------- the whole model

def evaluate(p: Params, buckets=None) -> dict:
    """Analytic results per 1M requests for one configuration (TTL 0 and capacity 0 = today)."""
    buckets = buckets or zipf_buckets(p.tokens, p.zipf_s)
    keys = p.routes * p.sources
    share = flush_worthy_share(p, buckets, p.ttl + p.last_used_interval) if p.ttl > 0 else 0.0
    nu = p.change_rate * (p.principal_share + (1 - p.principal_share) * share)
    flush_rate, per_busy, idle = flush_clusters(nu if p.ttl > 0 else 0, p.window, p.deadline + p.margin)
    gw_hits, inv_rates, touches = 0.0, [], 0.0
    for k, q in buckets:
        lam = p.rps * q / keys
        h = clustered_flush_hit(lam, p.ttl, p.window, per_busy, idle) if p.ttl > 0 else 0.0
        gw_hits += k * q * h
        inv_rates.append(p.rps * q * (1 - h))
        mu = inv_rates[-1]
        touches += k * mu / (1 + mu * p.last_used_interval)  # first invocation per U interval
    invocations = sum(k * mu for (k, _), mu in zip(buckets, inv_rates))
    h1, t_c = tier1(p, buckets, inv_rates, token_change_rates(p, buckets))
    per_m = 1e6 / p.rps
    feed_bytes = FEED_BASE_BYTES + FEED_ENTRY_BYTES * p.change_rate * FEED_WINDOW
    feed_reads = 0.0
    if p.capacity > 0 and invocations > 0:
        y = invocations / p.instances
        feed_reads = p.instances / (p.feed_interval + 1 / y)   # renewal: F, then the next invocation
    r = {"gateway_hit": gw_hits, "flush_share": share, "flush_worthy_rate": nu,
         "flush_rate": flush_rate, "flushes_per_busy": per_busy, "quota_share": flush_rate / p.quota_rps,
         "tier1_hit": h1, "t_c": t_c, "invocations": invocations * per_m,
         "rcu_miss": invocations * (1 - h1) * 2 * per_m, "feed_bytes": feed_bytes,
         "rcu_feed": feed_reads * math.ceil(feed_bytes / 4096) * per_m, "wcu": touches * per_m}
    r["rcu"] = r["rcu_miss"] + r["rcu_feed"]
    ms_price = LAMBDA_GB_SECOND * p.memory_mb / 1024 / 1000
    billed = h1 * p.billed_ms_hit + (1 - h1) * p.billed_ms_miss
    r["cost_requests"] = r["invocations"] * LAMBDA_PER_REQUEST
    r["cost_duration"] = r["invocations"] * billed * ms_price
    r["cost_reads"] = r["rcu"] * RCU_PRICE
    r["cost_writes"] = r["wcu"] * WCU_PRICE
    r["cost"] = r["cost_requests"] + r["cost_duration"] + r["cost_reads"]
    r["cost_with_writes"] = r["cost"] + r["cost_writes"]
    r["entry_life"] = exp_life(flush_rate, p.ttl)
    return r


def today(p: Params) -> Params:
    return replace(p, ttl=0, capacity=0)


def delays(p: Params) -> dict:
    """Worst-case revocation delays (seconds after the change commits)."""
    return {"tier1": p.stream_lag + p.feed_interval,
            "tier2": p.stream_lag + p.feed_interval + p.window + FLUSH_CALL_LATENCY,
            "race": p.feed_interval + p.deadline + p.margin,
            "fault": p.ttl}


def recommend_ttl(p: Params, buckets, max_ttl: float = 300):
    """Cheapest TTL up to max_ttl (a failed flush leaves a revoked credential usable for the TTL),
    then the shortest within 1 % of that cost: exposure is not worth a sub-percent saving."""
    costs = {t: evaluate(replace(p, ttl=t), buckets)["cost"]
             for t in (10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800, 3600)}
    allowed = {t: c for t, c in costs.items() if t <= max_ttl}
    best = min(allowed.values())
    return min(t for t, c in allowed.items() if c <= best * 1.01), costs


def max_change_rate_for_target(p: Params, buckets):
    """Highest change rate whose cost still meets the target (bisection), or None if none does."""
    if evaluate(replace(p, change_rate=1e-6), buckets)["cost"] > TARGET_PER_M:
        return None
    lo, hi = math.log(1e-6), math.log(100)
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if evaluate(replace(p, change_rate=math.exp(mid)), buckets)["cost"] <= TARGET_PER_M else (lo, mid)
    return math.exp(lo)


# ---------------------------------------------------------------- Monte Carlo

def monte_carlo(p: Params, warmup: float = 600, seconds: float = 900, seed: int = 1) -> dict:
    """Discrete-event simulation of the same design: Poisson requests (Zipf token, uniform route and
    address), Poisson changes, the coalescing flusher, M LRU instances, the feed and the touches."""
    rng = random.Random(seed)
    weights = [i ** -p.zipf_s for i in range(1, p.tokens + 1)]
    cdf, acc = [], 0.0
    for w in weights:
        acc += w
        cdf.append(acc)
    last_use = [-math.inf] * p.tokens
    last_write = [-math.inf] * p.tokens
    gateway, gen = {}, 0
    lrus = [OrderedDict() for _ in range(p.instances)]
    feed_read = [-math.inf] * p.instances
    recent_changes = deque()
    stats = dict.fromkeys(("req", "hit", "inv", "t1hit", "rcu", "wcu", "flush"), 0)
    end = warmup + seconds
    t, next_change = 0.0, rng.expovariate(p.change_rate)
    needs, last_flush, pending = deque(), -math.inf, None   # needs: sorted times of later flush needs
    d = p.deadline + p.margin

    def flush_need(when):
        """Coalescing: flush now if the window is over, else at its end (one flush serves all)."""
        nonlocal last_flush, pending, gen
        if pending is not None:
            return
        if when >= last_flush + p.window:
            last_flush, gen = when, gen + 1
            stats["flush"] += when >= warmup
        else:
            pending = last_flush + p.window

    def pick_changed(now):
        if p.recent_share < 0:
            return rng.randrange(p.tokens)
        want_recent = rng.random() < p.recent_share
        for _ in range(10_000):
            tok = rng.randrange(p.tokens)
            if (now - last_use[tok] <= RECENT_WINDOW) == want_recent:
                return tok
        return tok

    while t < end:
        t += rng.expovariate(p.rps)
        # timed events up to t, in order: pending coalesced flush, second needs, changes
        while True:
            nxt = min(pending if pending is not None else math.inf, needs[0] if needs else math.inf, next_change)
            if nxt > t:
                break
            if pending is not None and nxt == pending:
                pending, last_flush, gen = None, nxt, gen + 1
                stats["flush"] += nxt >= warmup
                while needs and needs[0] <= nxt:
                    needs.popleft()
            elif needs and nxt == needs[0]:
                flush_need(needs.popleft())
            else:
                tok = pick_changed(nxt)
                for lru in lrus:
                    lru.pop(tok, None)
                recent_changes.append(nxt)
                principal = rng.random() < p.principal_share
                if p.ttl > 0 and (principal or nxt - last_use[tok] <= p.ttl + p.last_used_interval):
                    flush_need(nxt)
                    needs.append(nxt + d)
                next_change = nxt + rng.expovariate(p.change_rate)
        measuring = t >= warmup
        tok = bisect_left(cdf, rng.random() * acc)
        tok = min(tok, p.tokens - 1)
        key = (tok, rng.randrange(p.routes), rng.randrange(p.sources))
        last_use[tok] = t
        stats["req"] += measuring
        entry = gateway.get(key)
        if entry is not None and entry[1] == gen and t < entry[0]:
            stats["hit"] += measuring
            continue
        if p.ttl > 0:
            gateway[key] = (t + p.ttl, gen)
        stats["inv"] += measuring
        k = rng.randrange(p.instances)
        lru = lrus[k]
        if p.capacity > 0 and t - feed_read[k] >= p.feed_interval:
            feed_read[k] = t
            while recent_changes and recent_changes[0] < t - FEED_WINDOW:
                recent_changes.popleft()
            size = FEED_BASE_BYTES + FEED_ENTRY_BYTES * len(recent_changes)
            stats["rcu"] += measuring * math.ceil(size / 4096)
        inserted = lru.get(tok)
        if inserted is not None and t - inserted < p.max_age:
            lru.move_to_end(tok)
            stats["t1hit"] += measuring
        else:
            stats["rcu"] += 2 * measuring
            if p.capacity > 0:
                lru[tok] = t
                lru.move_to_end(tok)
                if len(lru) > p.capacity:
                    lru.popitem(last=False)
        if t - last_write[tok] >= p.last_used_interval:
            last_write[tok] = t
            stats["wcu"] += measuring
    per_m = 1e6 / max(stats["req"], 1)
    return {"gateway_hit": stats["hit"] / stats["req"], "tier1_hit": stats["t1hit"] / max(stats["inv"], 1),
            "flush_rate": stats["flush"] / seconds, "invocations": stats["inv"] * per_m,
            "rcu": stats["rcu"] * per_m, "wcu": stats["wcu"] * per_m}


# ---------------------------------------------------------------- plot

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def svg_panel(x0, title, ylabel, series, ymax, yticks, fmt, refs, marker):
    """One panel: log x (changes/s), linear y, a line per TTL, dashed reference lines."""
    w, h, left, top = 400, 300, x0 + 70, 50
    lx = lambda c: left + (math.log10(c) + 2) / 4 * w
    ly = lambda v: top + h - min(v, ymax) / ymax * h
    out = [f'<text x="{left + w / 2}" y="30" text-anchor="middle" font-size="15" font-weight="bold">{title}</text>',
           f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#333"/>']
    for e in range(-2, 3):
        x = lx(10 ** e)
        out.append(f'<line x1="{x}" y1="{top}" x2="{x}" y2="{top + h}" stroke="#ddd"/>')
        out.append(f'<text x="{x}" y="{top + h + 18}" text-anchor="middle" font-size="12">{10 ** e:g}</text>')
    for v in yticks:
        y = ly(v)
        out.append(f'<line x1="{left}" y1="{y}" x2="{left + w}" y2="{y}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4}" text-anchor="end" font-size="12">{fmt(v)}</text>')
    out.append(f'<text x="{left + w / 2}" y="{top + h + 40}" text-anchor="middle" font-size="13">'
               'narrowing changes per second (log scale)</text>')
    out.append(f'<text transform="translate({x0 + 18},{top + h / 2}) rotate(-90)" text-anchor="middle" '
               f'font-size="13">{ylabel}</text>')
    xm = lx(marker)
    out.append(f'<line x1="{xm}" y1="{top}" x2="{xm}" y2="{top + h}" stroke="#888" stroke-dasharray="2,3"/>')
    out.append(f'<text x="{xm + 3}" y="{top + 12}" font-size="11" fill="#666">reference</text>')
    for label, value, colour in refs:
        y = ly(value)
        out.append(f'<line x1="{left}" y1="{y}" x2="{left + w}" y2="{y}" stroke="{colour}" stroke-dasharray="6,4"/>')
        out.append(f'<text x="{left + w - 4}" y="{y - 4}" text-anchor="end" font-size="11" fill="{colour}">{label}</text>')
    for i, (label, points) in enumerate(series):
        path = " ".join(f"{lx(c):.1f},{ly(v):.1f}" for c, v in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{COLOURS[i % 4]}" stroke-width="2"/>')
        ly0 = top + 14 + 16 * i
        out.append(f'<line x1="{left + 10}" y1="{ly0}" x2="{left + 30}" y2="{ly0}" stroke="{COLOURS[i % 4]}" stroke-width="2"/>')
        out.append(f'<text x="{left + 34}" y="{ly0 + 4}" font-size="12">{label}</text>')
    return out


def write_svg(path: Path, sweep, today_cost, marker):
    hits = [(f"TTL {t:g} s", [(c, 100 * r["gateway_hit"]) for c, r in pts]) for t, pts in sweep.items()]
    costs = [(f"TTL {t:g} s", [(c, r["cost"]) for c, r in pts]) for t, pts in sweep.items()]
    top = max([today_cost] + [v for _, pts in costs for _, v in pts])
    ymax = math.ceil(top * 10 + 0.5) / 10
    step = 0.1 if ymax <= 1 else 0.5
    ticks = [i * step for i in range(int(ymax / step) + 1)]
    body = svg_panel(0, "API Gateway cache hit rate", "gateway hit rate (% of requests)", hits, 100,
                     range(0, 101, 20), lambda v: f"{v}%", [], marker)
    body += svg_panel(500, "Authorizer cost per 1M requests", "US$ per 1M requests (without last_used_at writes)",
                      costs, ymax, ticks, lambda v: f"${v:.2f}",
                      [(f"today ${today_cost:.2f}", today_cost, "#555"), (f"target ${TARGET_PER_M:.2f}", TARGET_PER_M, "#d00")],
                      marker)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="1000" height="400" font-family="sans-serif">\n'
                    '<rect width="1000" height="400" fill="white"/>\n' + "\n".join(body) + "\n</svg>\n")


# ---------------------------------------------------------------- report

def money(v):
    return f"${v:.4f}"


def report(p: Params, mc_params: Params, args) -> str:
    buckets = zipf_buckets(p.tokens, p.zipf_s)
    cur, old = evaluate(p, buckets), evaluate(today(p), buckets)
    dl = delays(p)
    feed_limit = (DDB_ITEM_LIMIT - FEED_BASE_BYTES) / FEED_ENTRY_BYTES / FEED_WINDOW
    lru_time = "cache not full" if cur["t_c"] == math.inf else f"{cur['t_c']:.0f} s"
    best_ttl, ttl_costs = recommend_ttl(p, buckets)
    lines = [f"Command: `{args.command_line}`. Prices: {PRICE_SOURCE}. Model: analytic formulas summed over Zipf "
             "ranks; Monte Carlo check below.", "",
             f"Workload: {p.rps:,.0f} requests/s, {p.tokens:,} active tokens, Zipf s = {p.zipf_s}, {p.routes} routes × "
             f"{p.sources} source addresses per token, {p.change_rate:g} narrowing changes/s "
             + (f"({p.recent_share:.0%} on a credential used in the last 5 min)" if p.recent_share >= 0 else "(uniform over tokens)")
             + f", principal share {p.principal_share:.0%}, TTL {p.ttl:g} s, U {p.last_used_interval:g} s, W {p.window:g} s, "
             f"{p.instances} instances × {p.capacity:,} entries (A {p.max_age:g} s, F {p.feed_interval:g} s).", "",
             f"| per 1M requests | two-tier cache (TTL {p.ttl:g} s) | today (TTL 0, no tier 1) |", "| --- | ---: | ---: |",
             f"| gateway hit rate | {cur['gateway_hit']:.1%} | 0 % |",
             f"| tier-1 hit rate (of invocations) | {cur['tier1_hit']:.1%} | – |",
             f"| Lambda invocations | {cur['invocations']:,.0f} | {old['invocations']:,.0f} |",
             f"| DynamoDB read units: tier-1 misses + feed | {cur['rcu_miss']:,.0f} + {cur['rcu_feed']:,.0f} | {old['rcu']:,.0f} |",
             f"| DynamoDB write units (last_used_at, counted apart) | {cur['wcu']:,.0f} | {old['wcu']:,.0f} |",
             f"| Lambda requests ($0.20/M) | {money(cur['cost_requests'])} | {money(old['cost_requests'])} |",
             f"| Lambda duration ({p.billed_ms_hit:g}/{p.billed_ms_miss:g} billed ms hit/miss) | {money(cur['cost_duration'])} | {money(old['cost_duration'])} |",
             f"| DynamoDB reads ($0.125/M) | {money(cur['cost_reads'])} | {money(old['cost_reads'])} |",
             f"| **authorizer cost** (vs HTTP API ${HTTP_API_PER_M:.2f}) | **{money(cur['cost'])}** | **{money(old['cost'])}** |",
             f"| last_used_at writes ($0.625/M) | {money(cur['cost_writes'])} | {money(old['cost_writes'])} |",
             f"| authorizer cost with the writes | {money(cur['cost_with_writes'])} | {money(old['cost_with_writes'])} |",
             "", "| flushes and tier 1 | value |", "| --- | ---: |",
             f"| flush-worthy share of changes (used within TTL + U = {p.ttl + p.last_used_interval:g} s) | {cur['flush_share']:.1%} |",
             f"| flush-worthy changes/s | {cur['flush_worthy_rate']:.3f} |",
             f"| stage flushes/s (mean {cur['flushes_per_busy']:.2f} per busy period) | {cur['flush_rate']:.3f} "
             f"= {cur['quota_share']:.1%} of the {p.quota_rps:g}/s quota (burst {p.quota_burst:g}) |",
             f"| mean gateway entry life for a hot key, TTL {p.ttl:g} s | {cur['entry_life']:.1f} s |",
             f"| tier-1 LRU characteristic time (Che) | {lru_time} |",
             f"| feed item (last {FEED_WINDOW:g} s of changes; read units per read) | {cur['feed_bytes']:,.0f} B "
             f"({math.ceil(cur['feed_bytes'] / 4096)}); the 400 KB item limit is hit at {feed_limit:.0f} changes/s |",
             "", "| worst-case revocation delay after the change commits | seconds |", "| --- | ---: |",
             f"| tier 1: stream lag {p.stream_lag:g} (typical, undocumented) + feed interval F | {dl['tier1']:.1f} |",
             f"| tier 2: stream lag + F (the first flush waits for every instance to read the feed) + coalescing "
             f"wait ≤ W + flush call {FLUSH_CALL_LATENCY:g} + propagation 0 "
             f"(undocumented, assumed 0) | {dl['tier2']:.1f} |",
             f"| in-flight race: second flush F + D + m after the change is fed (+ stream lag) | {dl['race']:.1f} "
             f"(+ {p.stream_lag:g}) |",
             f"| fault bound: a flush that fails every retry | {dl['fault']:g} (TTL) |", ""]
    met = cur["cost"] <= TARGET_PER_M
    terms = {"Lambda requests": cur["cost_requests"], "Lambda duration": cur["cost_duration"], "DynamoDB reads": cur["cost_reads"]}
    top = max(terms, key=terms.get)
    lines.append(f"**Target ≤ ${TARGET_PER_M:.2f} per 1M requests: {'met' if met else 'not met'}** "
                 f"({money(cur['cost'])}, {cur['cost'] / TARGET_PER_M:.1f}× the target; largest term {top} "
                 f"{money(terms[top])}: {cur['invocations']:,.0f} invocations per 1M, as a flush every "
                 f"{1 / max(cur['flush_rate'], 1e-9):.1f} s on average caps a hot entry's life at {cur['entry_life']:.1f} s "
                 f"and the 10 keys per token of the Zipf tail miss anyway; tier 1 saves only {cur['tier1_hit']:.0%} of the reads, "
                 f"each instance seeing 1/{p.instances} of a token's invocations).")
    if not met:
        lines += ["", "What would meet it (same workload; \"no flush\" = no flush-worthy change):", "",
                  "| scenario | gateway hit | invocations per 1M | authorizer cost | target |", "| --- | ---: | ---: | ---: | --- |"]
        for name, change in ((f"as designed, TTL {best_ttl:g} s (recommended)", dict(ttl=best_ttl)),
                             ("as designed, TTL 300 s (API Gateway's default)", dict(ttl=300)),
                             ("… without `$context.routeKey` in the key (IAM answers cover every route)", dict(ttl=best_ttl, routes=1)),
                             ("TTL 300 s, no flush", dict(change_rate=1e-9)),
                             ("TTL 300 s, no flush, without routeKey", dict(change_rate=1e-9, routes=1)),
                             ("TTL 3600 s, no flush, without routeKey", dict(ttl=3600, change_rate=1e-9, routes=1))):
            r = evaluate(replace(p, **change), buckets)
            lines.append(f"| {name} | {r['gateway_hit']:.1%} | {r['invocations']:,.0f} | {money(r['cost'])} | "
                         f"{'met' if r['cost'] <= TARGET_PER_M else 'not met'} |")
        limit = max_change_rate_for_target(replace(p, ttl=3600, routes=1), buckets)
        lines += ["", "Flushes are the lever: the target needs a flush-free gateway cache, or a long TTL without "
                  "routeKey and at most " + (f"{limit:.2g}" if limit else "0") + " narrowing changes/s "
                  f"(reference {p.change_rate:g}); the last_used_at writes alone cost {money(cur['cost_writes'])}.", ""]
    wmet = cur["cost_with_writes"] <= TARGET_PER_M
    lines.append(f"With last_used_at writes: {money(cur['cost_with_writes'])}, target {'met' if wmet else 'not met'}: "
                 f"{cur['wcu']:,.0f} writes per 1M come from the long tail of tokens used less than once per U.")
    if p.recent_share >= 0:
        lines.append(f"Flush-worthy share: {p.recent_share:.0%} of changes fall on tokens used in the last 5 min; the "
                     f"rest on idle tokens, each used in the {p.ttl + p.last_used_interval - RECENT_WINDOW:g} s before "
                     "with the Poisson chance given by its Zipf rate (so the share grows with TTL + U).")
    lines += ["", f"**Recommended `AuthorizerResultTtl`: {best_ttl:g} s**: cheapest TTL up to 300 s within 1 % "
              f"({money(ttl_costs[best_ttl])} vs {money(ttl_costs[300])} at 300 s and {money(ttl_costs[3600])} at 3600 s): "
              "flushes already end entries within seconds, and a longer TTL only widens the flush-worthy window "
              "and the failed-flush exposure.", "",
              f"Tier 1 answers from a feed read up to F = {p.feed_interval:g} s old, so the invalidator's first flush "
              f"waits F after the change is fed (no instance answers from state before it once that flush lands), and "
              f"the second F + D + m = {dl['race']:.1f} s (an answer started before then lands within D).", ""]
    ref = reference_table(p)
    lines += ["Self-test against the reference table (hit rate, key = token, TTL 300 s): no flush | periodic flush "
              "every 1 / 10 / 60 s | the same rates as Poisson flushes (renewal formula, used here):", "",
              "| Zipf s | no flush | 1 s | 10 s | 60 s | Poisson 1 s | 10 s | 60 s |", "| --- |" + " ---: |" * 7]
    lines += [f"| {s} | " + " | ".join(f"{v:.1%}" for v in row) + " |" for s, row in ref.items()]
    if mc_params is not None:
        a, m = evaluate(mc_params), monte_carlo(mc_params, seed=args.seed, seconds=args.mc_seconds)
        lines += ["", f"Monte Carlo check ({mc_params.tokens:,} tokens, {mc_params.rps:g} requests/s, "
                  f"{mc_params.instances} instances × {mc_params.capacity} entries, {args.mc_seconds:g} s after a 600 s "
                  f"warm-up, seed {args.seed}):", "", "| | analytic | Monte Carlo |", "| --- | ---: | ---: |"]
        for name, key, f in (("gateway hit rate", "gateway_hit", "{:.1%}"), ("tier-1 hit rate", "tier1_hit", "{:.1%}"),
                             ("flushes/s", "flush_rate", "{:.3f}"), ("invocations per 1M", "invocations", "{:,.0f}"),
                             ("read units per 1M", "rcu", "{:,.0f}"), ("write units per 1M", "wcu", "{:,.0f}")):
            lines.append(f"| {name} | {f.format(a[key])} | {f.format(m[key])} |")
    return "\n".join(lines)


def sweep(p: Params):
    """Gateway hit rate and cost for TTL x change rate (0.01..100 changes/s, 4 points per decade)."""
    buckets = zipf_buckets(p.tokens, p.zipf_s)
    rates = [10 ** (k / 4) for k in range(-8, 9)]
    return {t: [(c, evaluate(replace(p, ttl=t, change_rate=c), buckets)) for c in rates] for t in (30, 300, 900, 3600)}


def rewrite_doc(path: Path, section: str):
    """Replaces what lies between the markers (or appends them), touching nothing else."""
    text = path.read_text()
    block = f"{BEGIN}\n{section}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    d = Params()
    for name, value in vars(d).items():
        ap.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    ap.add_argument("--quick", action="store_true", help="small scale (10k tokens, 200 rps); writes nothing")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mc-seconds", type=float, default=1800)
    args = ap.parse_args(argv)
    args.command_line = "python3 scripts/simulate_cache.py" + ("".join(" " + a for a in argv))
    return args


def main(argv) -> int:
    args = parse_args(argv)
    p = Params(**{k: getattr(args, k) for k in vars(Params())})
    if args.quick:
        p = quick_params(p)
    text = report(p, quick_params(p), args)
    print(text)
    if args.quick or args.no_write:
        return 0
    table = sweep(p)
    svg = ROOT / "docs/images/cache-simulation.svg"
    write_svg(svg, table, evaluate(today(p))["cost"], p.change_rate)
    section = ("## Authorizer cache at internet scale (simulation)\n\n" + text +
               "\n\nSweep (TTL × change rate, other parameters as above; cost without last_used_at writes):\n\n"
               "![gateway hit rate and authorizer cost vs change rate](images/cache-simulation.svg)")
    rewrite_doc(ROOT / "docs/performance.md", section)
    print(f"\nwrote {svg.relative_to(ROOT)} and the marked section of docs/performance.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
