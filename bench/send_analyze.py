#!/usr/bin/env python3
"""Analysis for bench/send.sh (stdlib only).

  send_analyze.py latency COMMITS LOG PREFIX   -> key=value: commit -> arrival at the sink, in ms
  send_analyze.py report RESULTS.jsonl OUT.md RUN  -> the markdown table of one run of send.sh (RUN: its run id)

COMMITS is send_client.py's output ("i t_sent t_commit" per request, Unix seconds); request i went to PREFIX<i>, and
its arrival is the first sink log line for that URI ($msec, millisecond resolution: each latency is +-1 ms).
"""
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from analyze import fmt, kv, mark, pct  # noqa: E402


def latency(commits_path, log_path, prefix):
    sent, commit = {}, {}
    with open(commits_path) as f:
        for line in f:
            i, ts, tc = line.split()
            sent[int(i)], commit[int(i)] = float(ts), float(tc)
    first = {}
    dup = 0
    with open(log_path) as f:
        for line in f:
            p = line.split()
            if len(p) >= 3 and p[1].startswith(prefix):
                try:
                    i = int(p[1][len(prefix):])
                except ValueError:
                    continue
                t = float(p[0])
                if i in first:
                    dup += 1
                    first[i] = min(first[i], t)
                else:
                    first[i] = t
    lat = sorted((first[i] - commit[i]) * 1000 for i in commit if i in first)
    stmt = sorted((commit[i] - sent[i]) * 1000 for i in commit)
    n = len(commit)
    if not lat:
        return kv(n=n, arrived=0)
    kv(n=n, arrived=len(lat), duplicates=dup, p50_ms=pct(lat, 0.5), p90_ms=pct(lat, 0.9), p99_ms=pct(lat, 0.99),
       max_ms=lat[-1], min_ms=lat[0], mean_ms=sum(lat) / len(lat), before_commit=sum(1 for v in lat if v < 0),
       stmt_p50_ms=pct(stmt, 0.5), stmt_p99_ms=pct(stmt, 0.99),
       span_s=max(commit.values()) - min(sent.values()))


def report(jsonl, md_path, run):
    rows = [json.loads(l) for l in open(jsonl) if l.strip()]
    rows = [r for r in rows if str(r.get('run')) == str(run)]
    env = next((r for r in rows if r.get('scenario') == 'send_env'), {})
    burst = {(r['stack'], r.get('pgnet_batch')): r for r in rows if r.get('scenario') == 'send_burst'}
    lat = {r['stack']: r for r in rows if r.get('scenario') == 'send_latency' and not r.get('variant')}
    lat_var = [r for r in rows if r.get('scenario') == 'send_latency' and r.get('variant')]
    out = []
    w = out.append
    w('# jobsched.send() against pg_net and graphile-worker (issue 16)\n')
    w(f'Run {env.get("date", "?")}, jobsched {env.get("jobsched", "?")}, {env.get("total_s", 0):.0f} s in all.\n')
    w('| | |\n|---|---|')
    for k, label in [('machine', 'machine'), ('postgres', 'PostgreSQL'), ('libcurl', 'libcurl'), ('nginx', 'nginx (sink)'),
                     ('pg_net', 'pg_net'), ('graphile_worker', 'graphile-worker'), ('node', 'Node.js'),
                     ('psycopg2', 'latency client'), ('jobsched', 'jobsched')]:
        w(f'| {label} | {env.get(k, "n/a")} |')
    w(f'| settings | {env.get("settings", "")} |\n')

    js_b, net_b, net_b2 = burst.get(('jobsched', None)), burst.get(('pg_net', 200)), burst.get(('pg_net', 2000))

    def rate(r):
        return r.get('rate') if r and not r.get('skipped') else None

    def ms(stack, key):
        r = lat.get(stack)
        return r.get(key) if r and not r.get('skipped') and r.get('arrived') else None

    w('| measure | jobsched | pg_net | graphile-worker | ratio | target | met? |')
    w('|---|---|---|---|---|---|---|')
    jr, nr = rate(js_b), rate(net_b)
    ratio = jr / nr if jr and nr else None
    n_b = (js_b or net_b or {}).get('n', '?')
    w(f'| burst: {fmt(n_b)} requests in one statement, runs/s from the statement start to the last recorded '
      f'| {fmt(jr, "/s")} | {fmt(nr, "/s")} | — | {fmt(ratio, "×", 1)} | ≥ 10× pg_net | '
      f'{mark(None if ratio is None else ratio >= 10)} |')
    if net_b2:
        r2 = rate(net_b2)
        w(f'| burst, pg_net with batch_size 2,000 (its better case; for information) | {fmt(jr, "/s")} | {fmt(r2, "/s")} '
          f'| — | {fmt(jr / r2 if jr and r2 else None, "×", 1)} | — | — |')
    n_l = next((r.get('n') for r in lat.values() if r.get('n')), '?')
    for key, label in [('p50_ms', 'p50'), ('p99_ms', 'p99'), ('max_ms', 'max')]:
        j, n, g = ms('jobsched', key), ms('pg_net', key), ms('graphile-worker', key)
        # latencies of a millisecond or less, each +-1 ms, make a quotient meaningless: the other stack's excess
        ratios = []
        if j is not None:
            if n is not None:
                ratios.append(f'pg_net {n - j:+,.1f} ms' + (f' ({n / j:,.0f}×)' if j >= 1 else ''))
            if g is not None:
                ratios.append(f'graphile {g - j:+,.1f} ms' + (f' ({g / j:,.1f}×)' if j >= 1 else ''))
        target = '≤ 5 ms' if key == 'p99_ms' else '—'
        met = mark(None if j is None else j <= 5) if key == 'p99_ms' else '—'
        w(f'| latency {label}, commit → arrival at the sink ({fmt(n_l)} sequential single requests) '
          f'| {fmt(j, " ms", 1)} | {fmt(n, " ms", 1)} | {fmt(g, " ms", 1)} | {", ".join(ratios) or "—"} | {target} | {met} |')
    for r in lat_var:
        if r.get('skipped') or not r.get('arrived'):
            continue
        w(f'| latency p50 / p99 / max, pg_net with each request finding its worker idle (one every '
          f'{r.get("gap_ms", 0) / 1000:.1f} s, {fmt(r.get("n"))} requests; for information) | — '
          f'| {fmt(r.get("p50_ms"), "", 1)} / {fmt(r.get("p99_ms"), "", 1)} / {fmt(r.get("max_ms"), " ms", 1)} | — | — | — | — |')
    w('')
    w('Ratio: jobsched ÷ pg_net for the burst rate; for latency, the other stack\'s figure minus jobsched\'s (positive: '
      'jobsched is faster), and the quotient when jobsched\'s is 1 ms or more (the sink log has millisecond '
      'resolution). graphile-worker has no burst line: the issue asks it for latency only.\n')

    w('## Burst\n')
    w('One statement `SELECT jobsched.send(url, body) FROM generate_series(1, N)` (or `net.http_post`), autocommit, '
      'on a fresh cluster; done when every request is recorded (jobsched: no run left in `jobsched.runs`, every attempt moved to the '
      'history; pg_net: N rows in `net._http_response`), polled every 50 ms. The rate is the requests recorded ok over the time from the '
      'statement start to that poll.\n')
    w('| stack | N | recorded ok | statement | start → all recorded | runs/s | commit → first / last at the sink | '
      'new connections | others\' CPU |')
    w('|---|---|---|---|---|---|---|---|---|')
    for (stack, batch), r in sorted(burst.items(), key=lambda kv_: (kv_[0][0], kv_[0][1] or 0)):
        if r.get('skipped'):
            w(f'| {stack} | | | | | {r["skipped"]} | | | |')
            continue
        label = stack + (f' (batch_size {batch:,})' if batch else '')
        w(f'| {label} | {fmt(r.get("n"))} | {fmt(r.get("ok"))} | {fmt(r.get("stmt_s"), " s", 2)} '
          f'| {fmt(r.get("seconds"), " s", 2)}{" (gave up)" if r.get("timed_out") else ""} | {fmt(r.get("rate"), "/s")} '
          f'| {fmt(r.get("wire_first_s"), " s", 2)} / {fmt(r.get("wire_last_s"), " s", 2)} '
          f'| {fmt(r.get("new_conn_pct"), "%", 1)} | {fmt(r.get("others_cpu"), "", 2)} |')
    w('')

    w('## Latency\n')
    w('N single requests one after another from one psycopg2 connection, each its own transaction (autocommit), '
      f'{env.get("gap_ms", "?")} ms apart, after {env.get("warmup", "?")} unmeasured ones; commit = `time.time()` '
      'right after the statement returns; arrival = the sink\'s `$msec` for that request\'s URI (ms resolution, so '
      '±1 ms; both read the same clock). "before commit": requests that reached the sink before the client had '
      'the answer to its COMMIT (each stack\'s worker is woken at commit -- graphile-worker\'s by its NOTIFY -- '
      'before the reply is on its way).\n')
    w('| stack | sent | arrived | p50 | p90 | p99 | max | min | mean | before commit | statement p50 / p99 | others\' CPU | notes |')
    w('|---|---|---|---|---|---|---|---|---|---|---|---|---|')
    for stack, r in [(k, lat.get(k)) for k in ['jobsched', 'pg_net', 'graphile-worker']] + \
            [(f'{r["stack"]} ({r["variant"]}, {r.get("gap_ms", 0):,} ms apart)', r) for r in lat_var]:
        if not r:
            continue
        if r.get('skipped'):
            w(f'| {stack} | | | | | | | | | | | | {r["skipped"]} |')
            continue
        notes = r.get('notes', '')
        w(f'| {stack} | {fmt(r.get("n"))} | {fmt(r.get("arrived"))} | {fmt(r.get("p50_ms"), " ms", 1)} '
          f'| {fmt(r.get("p90_ms"), " ms", 1)} | {fmt(r.get("p99_ms"), " ms", 1)} | {fmt(r.get("max_ms"), " ms", 1)} '
          f'| {fmt(r.get("min_ms"), " ms", 1)} | {fmt(r.get("mean_ms"), " ms", 2)} | {fmt(r.get("before_commit"))} '
          f'| {fmt(r.get("stmt_p50_ms"), " ms", 2)} / {fmt(r.get("stmt_p99_ms"), " ms", 2)} '
          f'| {fmt(r.get("others_cpu"), "", 2)} | {notes} |')
    w('')
    steps = [r for r in rows if r.get('scenario') == 'send_timing']
    if steps:
        w('Steps (seconds, and the CPUs other processes kept busy meanwhile): ' + ' · '.join(
            f'{r["name"]} {r["seconds"]:.0f} s ({r.get("others_cpu", "?")})' for r in steps) + '\n')
    open(md_path, 'w').write('\n'.join(out) + '\n')


if __name__ == '__main__':
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == 'latency':
        latency(*args)
    elif cmd == 'report':
        report(*args)
    else:
        sys.exit(__doc__)
