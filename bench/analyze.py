#!/usr/bin/env python3
"""Analysis for the jobsched benchmarks (stdlib only).

  analyze.py burst  LOG PREFIX T_COMMIT            -> key=value: arrivals on the wire, relative to the commit
  analyze.py steady LOG PREFIX K T_STOP key|second -> key=value: delivered/s in the steady window, lateness
  analyze.py cold   LOG PREFIX K T_RESUME [T_RESTART] -> key=value: the first second fired after T_RESUME (and the next)
  analyze.py report RESULTS.jsonl RESULTS.md DAT   -> the markdown report and the gnuplot data file
  analyze.py https  RESULTS.jsonl OUT.md           -> the environment and the HTTPS section alone (run --https-only)

The sink log has one line per request: "$msec $request_uri $status $http_idempotency_key $connection_requests
$connection $server_protocol" (the last two since the HTTPS servers; older logs lack them).  Only lines whose URI
starts with PREFIX are counted, so nothing but the scenario's own requests enters a figure.
"""
import json
import math
import sys


def arrivals(path, prefix):
    rows = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) >= 3 and p[1].startswith(prefix):
                rows.append((float(p[0]), p[2], p[3] if len(p) > 3 else '-', p[4] if len(p) > 4 else '-',
                             p[5] if len(p) > 5 else '-', p[6] if len(p) > 6 else '-'))
    rows.sort()
    return rows


def conn_stats(rows):
    """Connections the rows came over (distinct nginx $connection: an HTTP/2 connection's streams share one) and
    the protocol most of them used; empty for a log without those fields."""
    conns = {r[4] for r in rows if r[4] != '-'}
    protos = [r[5] for r in rows if r[5] != '-']
    if not conns:
        return {}
    return dict(conns=len(conns), proto=max(set(protos), key=protos.count) if protos else '-')


def pct(sorted_vals, q):
    """Nearest-rank percentile of an already sorted list (nan when empty)."""
    if not sorted_vals:
        return float('nan')
    return sorted_vals[min(len(sorted_vals) - 1, max(0, math.ceil(q * len(sorted_vals)) - 1))]


def new_conn_pct(rows):
    """Share of requests that opened a connection (first request on it): reuse keeps the sender's cost down."""
    return round(100 * sum(1 for r in rows if r[3] == '1') / len(rows), 1) if rows else float('nan')


def kv(**d):
    print(' '.join(f'{k}={v:.3f}' if isinstance(v, float) else f'{k}={v}' for k, v in d.items()))


def burst(path, prefix, t_commit):
    rows = arrivals(path, prefix)
    if not rows:
        return kv(wire_n=0)
    t_commit = float(t_commit)
    first, last = rows[0][0], rows[-1][0]
    kv(wire_n=len(rows), wire_non200=sum(1 for r in rows if r[1] != '200'),
       wire_first_s=first - t_commit, wire_last_s=last - t_commit,
       wire_rate=round(len(rows) / (last - first)) if last > first else 0, new_conn_pct=new_conn_pct(rows),
       **conn_stats(rows))


def steady(path, prefix, k, t_stop, mode):
    """Delivered per second: arrivals in whole wall-clock seconds from 5 s after the first arrival to 2 s before the
    stop (or the last arrival, if earlier), as the anchor does but with whole-second edges: arrivals come in a burst
    after each second, and a window edge inside a burst would count one burst too many or too few.
    Lateness, mode 'key': arrival - scheduled time carried by jobsched's Idempotency-Key (jobsched-<id>-<unix us>),
    over the runs whose nominal second lies in the window; mode 'second': arrival - the whole second before it
    (the anchor's method for pg_cron, which tells nothing once a run is more than a second late)."""
    k, t_stop = int(k), float(t_stop)
    rows = arrivals(path, prefix)
    if not rows:
        return kv(arrivals=0, rate=0, delivered_pct=0)
    w0 = math.floor(rows[0][0]) + 5
    w1 = math.floor(min(rows[-1][0], t_stop)) - 2
    if w1 <= w0:
        return kv(arrivals=len(rows), rate=0, delivered_pct=0, window_s=0)
    n = sum(1 for r in rows if w0 <= r[0] < w1)
    rate = n / (w1 - w0)
    win = [r for r in rows if w0 <= r[0] < w1]
    out = dict(arrivals=len(rows), window_s=w1 - w0, window_from=w0, rate=round(rate),
               new_conn_pct=new_conn_pct(win),
               delivered_pct=round(100 * rate / k, 1), non200=sum(1 for r in rows if r[1] != '200'), **conn_stats(win))
    if mode == 'key':
        runs = []
        for t, _, key, *_ in rows:
            parts = key.rsplit('-', 2)
            if len(parts) == 3 and parts[2].isdigit():
                runs.append((t, int(parts[2]) / 1e6, key))
        late = sorted((t - s) * 1000 for t, s, _ in runs if w0 <= s < w1)
        keys = [key for _, _, key in runs]
        # every nominal run of the window should have arrived once: K per second
        out.update(complete_pct=round(100 * len(late) / (k * (w1 - w0)), 2), duplicates=len(keys) - len(set(keys)))
    else:
        late = sorted((t - math.floor(t)) * 1000 for t, *_ in rows if w0 <= t < w1)
    out.update(late_p50=pct(late, .5), late_p99=pct(late, .99), late_max=late[-1] if late else float('nan'))
    kv(**out)


def scheduled(key):
    """The scheduled time (unix seconds) in a jobsched Idempotency-Key (jobsched-<id>-<unix us>), or None."""
    parts = key.rsplit('-', 2)
    return int(parts[2]) / 1e6 if len(parts) == 3 and parts[2].isdigit() else None


def cold(path, prefix, k, t_resume, t_restart=None):
    """Cold start: K jobs firing every second, resumed at T_RESUME by a worker just started (no connection, no TLS
    session).  'first' is every run of the first nominal second after T_RESUME, 'next' those of the second after it
    (connections up by then).  Lateness = arrival - scheduled time from the Idempotency-Key; conns = connections the
    runs came over (distinct $connection); new_conns = the first requests on a connection among them; before_n =
    arrivals from T_RESTART to that first second."""
    k, t_resume = int(k), float(t_resume)
    runs = []
    rows = arrivals(path, prefix)
    for r in rows:
        s = scheduled(r[2])
        if s is not None and s >= t_resume:
            runs.append((r[0], s, r))
    if not runs:
        return kv(first_n=0)
    s0 = min(s for _, s, _ in runs)
    out = dict(first_at=s0)
    if t_restart is not None:
        # anything the new worker sent before the first measured second (a run put back at the stop) would have
        # opened its connection early: 0 means the first second found the worker cold
        out['before_n'] = sum(1 for r in rows if float(t_restart) <= r[0] < s0)
    for name, sec in (('first', s0), ('next', s0 + 1)):
        sel = [(t, r) for t, s, r in runs if abs(s - sec) < 1e-4]
        late = sorted((t - sec) * 1000 for t, _ in sel)
        cs = conn_stats([r for _, r in sel])
        out.update({f'{name}_n': len(sel), f'{name}_pct': round(100 * len(sel) / k, 1),
                    f'{name}_non200': sum(1 for _, r in sel if r[1] != '200'),
                    f'{name}_p50': pct(late, .5), f'{name}_p99': pct(late, .99),
                    f'{name}_max': late[-1] if late else float('nan'),
                    f'{name}_conns': cs.get('conns', 'n/a'), f'{name}_proto': cs.get('proto', 'n/a'),
                    f'{name}_new_conns': sum(1 for _, r in sel if r[3] == '1')})
    kv(**out)


# ---------------------------------------------------------------- report

def fmt(v, unit='', nd=0):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return 'n/a'
    if isinstance(v, str):
        return v
    return f'{v:,.{nd}f}{unit}'


def mark(ok):
    return 'n/a' if ok is None else ('PASS' if ok else 'FAIL')


PROTO = {'http': 'HTTP', 'h1': 'HTTPS/1.1', 'h2': 'HTTPS/2'}


def https_section(w, res):
    """The HTTPS section: https_burst.sh, https_steady.sh and https_cold.sh results (each ran its plain-HTTP
    comparison in the same run, so the ratios are between neighbours in time)."""
    rows = [r for r in res if r.get('scenario') in ('https_burst', 'https_steady', 'https_cold')]
    if not rows:
        return
    # pg_net as the anchor runs it: http_post's default timeout (the 60 s run is its better case, for information)
    one = lambda scen, stack, target: next((r for r in rows if r.get('scenario') == scen and r.get('stack') == stack
                                            and r.get('target') == target and not r.get('skipped')
                                            and 'pgnet_timeout_ms' not in r), None)
    ratio = lambda a, b: a / b if a is not None and b else None
    w('## HTTPS\n')
    w('The sink\'s two HTTPS servers (a private CA and a certificate for 127.0.0.1, RSA 2048; one offering HTTP/2 by '
      'ALPN, one HTTP/1.1 only) in the same nginx worker as the plain one. jobsched trusts the CA through '
      '`jobsched.ssl_ca_file` naming the CA alone (trust "ca"), unless a row says "system": no ssl_ca_file, the '
      'system bundle with the CA appended, as pg_net (which has no CA setting) always gets it (README.md, "HTTPS"). '
      'Every HTTPS figure has its plain-HTTP comparison from the same script, run just before it. '
      '"connections" = distinct nginx `$connection` the requests came over.\n')
    w('| target | measured | result |\n|---|---|---|')
    sp = one('https_steady', 'jobsched', 'http')
    for t in ('h1', 'h2'):
        st = one('https_steady', 'jobsched', t)
        if st or sp:
            r = ratio(st and st.get('late_p99'), sp and sp.get('late_p99'))
            w(f"| steady K={fmt(st['k'] if st else (sp or {}).get('k'))}: {PROTO[t]} p99 ÷ plain p99 ≤ 1.5 | "
              f"{fmt(st and st.get('late_p99'), ' ms', 1)} ÷ {fmt(sp and sp.get('late_p99'), ' ms', 1)} = {fmt(r, '×', 2)} | "
              f"{mark(r <= 1.5 if r is not None else None)} |")
    bp = one('https_burst', 'jobsched', 'http')
    for t in ('h1', 'h2'):
        b = one('https_burst', 'jobsched', t)
        r = ratio(b and b.get('rate'), bp and bp.get('rate'))
        w(f"| burst: {PROTO[t]} ÷ plain HTTP ≥ 0.6 | {fmt(b and b.get('rate'), '/s')} ÷ {fmt(bp and bp.get('rate'), '/s')}"
          f" = {fmt(r, '×', 2)} | {mark(r >= .6 if r is not None else None)} |")
    for t in ('h1', 'h2'):
        b, n = one('https_burst', 'jobsched', t), one('https_burst', 'pg_net', t)
        r = ratio(b and b.get('rate'), n and n.get('rate'))
        w(f"| burst: jobsched ÷ pg_net, both {PROTO[t]} ≥ 10 | {fmt(b and b.get('rate'), '/s')} ÷ "
          f"{fmt(n and n.get('rate'), '/s')} = {fmt(r, '×', 1)} | {mark(r >= 10 if r is not None else None)} |")
    c = next((r for r in rows if r.get('scenario') == 'https_cold' and r.get('target') == 'h2'
              and r.get('trust', 'ca') == 'ca'), None)
    w(f"| cold start, {PROTO['h2']}: first second's p99 ≤ 300 ms | "
      f"{fmt(c and c.get('first_p99'), ' ms', 1)} | {mark(c['first_p99'] <= 300 if c and 'first_p99' in c else None)} |")
    conns = c.get('first_conns') if c else None
    w(f"| cold start, {PROTO['h2']}: connections opened to the host, a handful (≤ 4, as test/t/013_https.pl) | "
      f"{fmt(conns)} for {fmt(c and c.get('first_n'))} runs | "
      f"{mark(conns <= 4 if isinstance(conns, int) else None)} |")
    w('')

    w('### Burst over HTTPS\n')
    w('`https_burst.sh N`: burst.sh to each server in turn (jobsched; then pg_net with batch_size 200).\n')
    w('| stack | target | N | commit → all recorded | requests/s | ÷ plain (same stack) | on the wire (first → last) '
      '| wire rate | protocol | connections | not succeeded |')
    w('|---|---|---|---|---|---|---|---|---|---|---|')
    for r in [r for r in rows if r.get('scenario') == 'https_burst']:
        if r.get('skipped'):
            w(f"| {r['stack']} | | {r['skipped']} | | | | | | | | |")
            continue
        plain = one('https_burst', r['stack'], 'http')
        name = r['stack'] + (f" (timeout {r['pgnet_timeout_ms'] / 1000:g} s)" if 'pgnet_timeout_ms' in r else '')
        done = f"{fmt(r['seconds'], ' s', 2)}" + (' (gave up waiting)' if r.get('timed_out') else '')
        w(f"| {name} | {PROTO.get(r.get('target'), '?')} | {r['n']:,} | {done} | "
          f"{fmt(r['rate'])} | {fmt(ratio(r['rate'], plain and plain.get('rate')), '×', 2)} | "
          f"{fmt(r.get('wire_first_s'), ' s', 2)} → {fmt(r.get('wire_last_s'), ' s', 2)} | "
          f"{fmt(r.get('wire_rate'), '/s')} | {r.get('proto', 'n/a')} | {fmt(r.get('conns'))} | {r.get('failed', 'n/a')} |")
    w('')

    w('### Steady over HTTPS\n')
    w('`https_steady.sh K D`: steady.sh to each server in turn; lateness at the sink as in "Steady".\n')
    w('| target | K | delivered | runs arrived | lateness p50 / p99 / max (ms) | jobsched column p50 / p99 / max (ms) '
      '| p99 ÷ plain | worker CPU | protocol | connections | notes |')
    w('|---|---|---|---|---|---|---|---|---|---|---|')
    for r in [r for r in rows if r.get('scenario') == 'https_steady']:
        notes = [f"{r[k]} {label}" for k, label in (('non200', 'non-200'), ('duplicates', 'duplicate keys'),
                                                     ('failed', 'runs not succeeded')) if r.get(k)]
        w(f"| {PROTO.get(r.get('target'), '?')} | {r['k']:,} | {fmt(r.get('delivered_pct'), '%', 1)} | "
          f"{fmt(r.get('complete_pct'), '%', 2)} | "
          f"{fmt(r.get('late_p50'), '', 1)} / {fmt(r.get('late_p99'), '', 1)} / {fmt(r.get('late_max'), '', 1)} | "
          f"{fmt(r.get('col_p50'), '', 1)} / {fmt(r.get('col_p99'), '', 1)} / {fmt(r.get('col_max'), '', 1)} | "
          f"{fmt(ratio(r.get('late_p99'), sp and sp.get('late_p99')), '×', 2)} | "
          f"{fmt(100 * r['cpu_per_s'], '%') if 'cpu_per_s' in r else 'n/a'} | {r.get('proto', 'n/a')} | "
          f"{fmt(r.get('conns'))} | {', '.join(notes)} |")
    w('')

    w('### Cold start over HTTPS\n')
    w('`https_cold.sh K`: K jobs every second; paused, server restarted (a new worker: no connection, no TLS '
      'session), resumed just after a whole second. "first" = the K runs of the first second due after the resume, '
      '"next" = the second after it. Lateness = arrival at the sink − scheduled time.\n')
    w('| target | trust | K | second | arrived | lateness p50 / p99 / max (ms) | connections (new) | protocol | '
      'sent before it | restart |')
    w('|---|---|---|---|---|---|---|---|---|---|')
    for r in [r for r in rows if r.get('scenario') == 'https_cold']:
        for sec in ('first', 'next'):
            w(f"| {PROTO.get(r.get('target'), '?')} | {r.get('trust', 'ca')} | {r['k']:,} | {sec} | {fmt(r.get(sec + '_pct'), '%', 1)} | "
              f"{fmt(r.get(sec + '_p50'), '', 1)} / {fmt(r.get(sec + '_p99'), '', 1)} / {fmt(r.get(sec + '_max'), '', 1)} | "
              f"{fmt(r.get(sec + '_conns'))} ({fmt(r.get(sec + '_new_conns'))}) | {r.get(sec + '_proto', 'n/a')} | "
              f"{fmt(r.get('before_n')) if sec == 'first' else ''} | {fmt(r.get('restart_s'), ' s', 1) if sec == 'first' else ''} |")
    w('')


def env_table(w, env):
    w('| | |\n|---|---|')
    for k, label in [('machine', 'machine'), ('postgres', 'PostgreSQL'), ('libcurl', 'libcurl'), ('nginx', 'nginx'),
                     ('openssl', 'OpenSSL'), ('wrk', 'wrk'), ('pg_cron', 'pg_cron'), ('pg_net', 'pg_net'), ('jobsched', 'jobsched')]:
        w(f'| {label} | {env.get(k, "n/a")} |')
    w('| settings | fsync and synchronous_commit on; one nginx worker as the sink on loopback; '
      'each scenario on a fresh cluster |\n')


def report_https(jsonl, md_path):
    """`bench/run --https-only`: the environment and the HTTPS section alone."""
    res = [json.loads(l) for l in open(jsonl) if l.strip()]
    env = next((r for r in res if r.get('scenario') == 'env'), {})
    L = []
    w = L.append
    w('# jobsched HTTPS benchmark results\n')
    w(f"Generated by `bench/run --https-only{' --quick' if env.get('quick') else ''}` on {env.get('date', '?')} "
      f"in {fmt(env.get('total_s'), ' s')}. How to read it: [README.md](../README.md).\n")
    env_table(w, env)
    https_section(w, res)
    w('## Scenario durations\n')
    w(' · '.join(f"{r['name']} {fmt(r['seconds'], ' s')} ({r.get('others_cpu', '?')})"
                 + (f" **exit {r['rc']}**" if r.get('rc') else '') for r in res if r.get('scenario') == 'timing') + '\n')
    with open(md_path, 'w') as f:
        f.write('\n'.join(L))


def report(jsonl, md_path, dat_path):
    res = [json.loads(l) for l in open(jsonl) if l.strip()]
    # runs with the sink pinned to a CPU of its own have a section of their own; the rest of the report is the
    # plain setup, every process free to run on any CPU
    pinned = [r for r in res if r.get('pinned')]
    res = [r for r in res if not r.get('pinned')]
    env = next((r for r in res if r.get('scenario') == 'env'), {})
    allof = lambda rows=res, **c: [r for r in rows if all(r.get(a) == b for a, b in c.items())]
    get = lambda rows=res, **c: next(iter(allof(rows, **c)), None)
    L = []
    w = L.append
    w('# jobsched benchmark results\n')
    w(f"Generated by `bench/run{' --quick' if env.get('quick') else ''}` on {env.get('date', '?')} "
      f"in {fmt(env.get('total_s'), ' s')}. How to read it: [README.md](README.md).\n")
    env_table(w, env)

    ceil = get(scenario='ceiling')
    ceiling = ceil.get('rate') if ceil else None
    w('## Targets\n')
    w('| target | measured | result |\n|---|---|---|')
    bj = get(scenario='burst', stack='jobsched')
    # the target is against pg_net as the anchor runs it: its default batch_size of 200
    bn = next((r for r in allof(scenario='burst', stack='pg_net') if r.get('pgnet_batch', 200) == 200), None)
    jr = bj.get('rate') if bj else None
    nr = bn.get('rate') if bn else None
    w(f"| burst ≥ 5× pg_net's rate | {fmt(jr, '/s')} vs {fmt(nr, '/s')}: "
      f"{fmt(jr / nr if jr and nr else None, '×', 1)} | {mark(jr / nr >= 5 if jr and nr else None)} |")
    w(f"| burst ≥ 50% of the sink ceiling | {fmt(jr, '/s')} of {fmt(ceiling, '/s')}: "
      f"{fmt(100 * jr / ceiling if jr and ceiling else None, '%')} | "
      f"{mark(jr / ceiling >= .5 if jr and ceiling else None)} |")

    def kept(stack):
        ok = [r['k'] for r in allof(scenario='steady', stack=stack) if r.get('delivered_pct', 0) >= 99
              and (stack != 'jobsched' or r.get('complete_pct', 0) >= 99)]
        return max(ok) if ok else 0
    js_runs, cr_runs = allof(scenario='steady', stack='jobsched'), allof(scenario='steady', stack='pg_cron')
    cr_ran = [r for r in cr_runs if not r.get('skipped')]
    jk = kept('jobsched') if js_runs else None
    ck = kept('pg_cron') if cr_ran else None
    largest = max((r['k'] for r in js_runs), default=None)
    js_txt = f"{fmt(jk)}{' (largest K tried)' if jk is not None and jk == largest else ''}"
    if jk is None:
        verdict, txt = None, 'n/a'
    elif ck is None:
        verdict, txt = jk >= 5000, f'{js_txt} vs n/a (≥ 5,000 checked only)'
    elif ck == 0:
        # pg_cron kept none of the K it ran: its figure is below the smallest of them
        lo = min(r['k'] for r in cr_ran)
        verdict, txt = jk >= 5000 and jk >= 10 * lo, f'{js_txt} vs < {lo:,} (none of the K tried): > {fmt(jk / lo, "×", 0)}'
    else:
        verdict, txt = jk >= 5000 and jk >= 10 * ck, f'{js_txt} vs {fmt(ck)}: {fmt(jk / ck, "×", 1)}'
    w(f"| steady: largest K kept at ≥ 99% delivered ≥ 10× pg_cron+pg_net's and ≥ 5,000 | {txt} | {mark(verdict)} |")
    k1 = get(scenario='steady', stack='jobsched', k=1000)
    if k1:
        w(f"| lateness at K=1,000: p99 ≤ 10 ms, max ≤ 50 ms | p99 {fmt(k1['late_p99'], ' ms', 1)}, "
          f"max {fmt(k1['late_max'], ' ms', 1)} (at the sink) | {mark(k1['late_p99'] <= 10 and k1['late_max'] <= 50)} |")
        if k1.get('col_p99') not in (None, ''):
            w(f"| the same, by jobsched's lateness column (send − scheduled; for information) | "
              f"p99 {fmt(k1['col_p99'], ' ms', 1)}, max {fmt(k1['col_max'], ' ms', 1)} | "
              f"{mark(k1['col_p99'] <= 10 and k1['col_max'] <= 50)} |")
    s10, s1m = get(scenario='scale', registered=env.get('scale_small')), get(scenario='scale', registered=env.get('scale_big'))
    if s10 and s1m:
        r = s1m['cpu_per_s'] / s10['cpu_per_s'] if s10['cpu_per_s'] else float('nan')
        w(f"| scale: worker CPU per tick with {s1m['registered']:,} registered within 2× of {s10['registered']:,} | "
          f"{fmt(1000 * s1m['cpu_per_s'], ' ms', 1)} vs {fmt(1000 * s10['cpu_per_s'], ' ms', 1)}: {fmt(r, '×', 2)} | "
          f"{mark(r <= 2)} |")
    w('')

    w('## Sink ceiling\n')
    if ceil:
        w(f"`wrk -t2 -c200 -d10s` POSTs against the sink: **{fmt(ceiling, ' requests/s')}** "
          f"(p99 latency {ceil.get('p99', 'n/a')}). wrk and nginx share the machine's {env.get('nproc', '?')} CPUs, "
          'as the database and nginx do in the scenarios.\n')

    w('## Burst\n')
    w('N requests due at the same moment; time from the commit that makes them due until every response is recorded '
      '(jobsched: all executions succeeded; pg_net: N rows in net._http_response).\n')
    w('| stack | N | enqueue/trigger statement | commit → all recorded | requests/s | of sink ceiling | '
      'on the wire (first → last arrival after commit) | wire rate | new connections | failed |')
    w('|---|---|---|---|---|---|---|---|---|---|')
    for b in allof(scenario='burst'):
        name = b['stack'] + (f" (batch_size {b['pgnet_batch']})" if 'pgnet_batch' in b else '')
        if b.get('skipped'):
            w(f"| {name} | {b['skipped']} | | | | | | | | |")
            continue
        w(f"| {name} | {b['n']:,} | {fmt(b['enqueue_s'], ' s', 2)} | {fmt(b['seconds'], ' s', 2)} | "
          f"{fmt(b['rate'])} | {fmt(100 * b['rate'] / ceiling if ceiling else None, '%')} | "
          f"{fmt(b.get('wire_first_s'), ' s', 2)} → {fmt(b.get('wire_last_s'), ' s', 2)} | {fmt(b.get('wire_rate'), '/s')} | "
          f"{fmt(b.get('new_conn_pct'), '%', 1)} | {b.get('failed', 'n/a')} |")
    w('')

    w('## Steady\n')
    w('K jobs each firing every second. Delivered/s from the sink log over whole seconds from 5 s after the first '
      'arrival to 2 s before the stop. Lateness = arrival at the sink − nominal fire time: for jobsched the scheduled '
      'time in the Idempotency-Key, over every run whose nominal second is in the window; for pg_cron+pg_net the time '
      'since the whole second (the anchor\'s method). "jobsched column" is the executions.lateness (send time − '
      'scheduled time) over the same runs; "stats" is jobsched.stats just before the stop.\n')
    w('| stack | K | delivered/s | delivered | runs arrived | lateness p50 / p99 / max (ms) | '
      'jobsched column p50 / p99 / max (ms) | stats p50 / p99 (ms) | worker CPU | new connections | notes |')
    w('|---|---|---|---|---|---|---|---|---|---|---|')
    for r in sorted(js_runs + cr_runs, key=lambda r: (r['stack'] != 'jobsched', r['k'])):
        if r.get('skipped'):
            w(f"| {r['stack']} | {r['k']:,} | | | | | | | | | {r['skipped']} |")
            continue
        col = (f"{fmt(r.get('col_p50'), '', 1)} / {fmt(r.get('col_p99'), '', 1)} / {fmt(r.get('col_max'), '', 1)}"
               if r['stack'] == 'jobsched' else 'n/a')
        st = (f"{fmt(r.get('stats_p50'), '', 1)} / {fmt(r.get('stats_p99'), '', 1)}"
              if r['stack'] == 'jobsched' else 'n/a')
        notes = []
        if r.get('non200'):
            notes.append(f"{r['non200']} non-200")
        if r.get('duplicates'):
            notes.append(f"{r['duplicates']} duplicate keys")
        if r.get('failed'):
            notes.append(f"{r['failed']} runs not succeeded")
        if r['stack'] == 'pg_cron' and r.get('late_max', 0) > 900:
            notes.append('lateness wraps past 1 s: not meaningful')
        w(f"| {r['stack']} | {r['k']:,} | {fmt(r['rate'])} | {fmt(r['delivered_pct'], '%', 1)} | "
          f"{fmt(r.get('complete_pct'), '%', 2) if 'complete_pct' in r else 'n/a'} | "
          f"{fmt(r['late_p50'], '', 1)} / {fmt(r['late_p99'], '', 1)} / {fmt(r['late_max'], '', 1)} | {col} | {st} | "
          f"{fmt(100 * r['cpu_per_s'], '%') if 'cpu_per_s' in r else 'n/a'} | "
          f"{fmt(r.get('new_conn_pct'), '%', 1)} | {', '.join(notes)} |")
    w('\n![lateness against K](lateness.png)\n')

    if pinned:
        w('## Sink on a CPU of its own\n')
        w('The same scenarios again with nginx pinned to the last CPU and the database (or wrk, for the ceiling) to '
          'the others (`PIN_SINK=1`). Unpinned, the kernel runs nginx on the CPU of the process that just wrote to it: '
          '`perf sched` shows the worker and nginx taking turns on one CPU, ~20 µs and ~12 µs a request, while the '
          'other CPU idles. Pinned, nginx never preempts the worker, but the rest of PostgreSQL (autovacuum, the WAL '
          'writer, the checkpointer, the backend that triggers the burst) shares the worker\'s CPU instead; which '
          'effect wins varies from run to run. For information; the targets above are read on the plain setup.\n')
        w('| | plain | sink on its own CPU |\n|---|---|---|')
        pc = get(pinned, scenario='ceiling')
        pceil = pc.get('rate') if pc else None
        w(f"| sink ceiling (wrk) | {fmt(ceiling, '/s')} | {fmt(pceil, '/s')} |")
        pb = get(pinned, scenario='burst', stack='jobsched')
        pr = pb.get('rate') if pb else None
        w(f"| burst jobsched, requests/s (of the ceiling beside it) | {fmt(jr, '/s')} "
          f"({fmt(100 * jr / ceiling if jr and ceiling else None, '%')}) | {fmt(pr, '/s')} "
          f"({fmt(100 * pr / pceil if pr and pceil else None, '%')}) |")
        pk = get(pinned, scenario='steady', stack='jobsched', k=1000)
        for key, label in (('late', 'lateness at the sink'), ('col', 'jobsched column')):
            cells = [f"{fmt(r.get(key + '_p50'), '', 1)} / {fmt(r.get(key + '_p99'), '', 1)} / "
                     f"{fmt(r.get(key + '_max'), '', 1)}" if r else 'n/a' for r in (k1, pk)]
            w(f"| steady K=1,000: {label} p50 / p99 / max (ms) | {cells[0]} | {cells[1]} |")
        cells = [fmt(100 * r['cpu_per_s'], '%') if r and 'cpu_per_s' in r else 'n/a' for r in (k1, pk)]
        w(f"| steady K=1,000: worker CPU | {cells[0]} | {cells[1]} |")
        w('')

    https_section(w, res)

    w('## Scale\n')
    w('The same due load in both runs, the rest of the registered jobs not due (yearly schedule, in the '
      'next_run_at index). Worker CPU = utime+stime of the scheduler process over the measuring window / its length, '
      'i.e. CPU per one-second tick. Creation rate = bulk create_job via generate_series in one statement.\n')
    w('| registered | due each second | bulk create_job rate | worker CPU per tick | delivered | '
      'lateness p50 / p99 / max (ms) |')
    w('|---|---|---|---|---|---|')
    for r in sorted(allof(scenario='scale'), key=lambda r: r['registered']):
        w(f"| {r['registered']:,} | {r['due']:,} | {fmt(r['create_rate'], ' jobs/s')} ({r['created']:,} in "
          f"{fmt(r['create_s'], ' s', 1)}) | {fmt(1000 * r['cpu_per_s'], ' ms', 1)} | {fmt(r['delivered_pct'], '%', 1)} | "
          f"{fmt(r['late_p50'], '', 1)} / {fmt(r['late_p99'], '', 1)} / {fmt(r['late_max'], '', 1)} |")
    cb = get(scenario='cron_bulk')
    if cb:
        w(f"\npg_cron: `cron.schedule` of {cb['n']:,} jobs in one statement: "
          f"{fmt(cb.get('rate'), ' jobs/s')} ({fmt(cb.get('seconds'), ' s', 1)}).")
    else:
        w('\npg_cron bulk schedule rate: n/a.')
    w('')

    w('## Scenario durations\n')
    w('Duration of each scenario, and in brackets the CPUs that processes other than the benchmark\'s kept busy '
      'meanwhile (a test suite, a fuzzer): above ~0.1 the scenario\'s figures are pessimistic.\n')
    w(' · '.join(f"{r['name']} {fmt(r['seconds'], ' s')} ({r.get('others_cpu', '?')})"
                 + (f" **exit {r['rc']}**" if r.get('rc') else '') for r in allof(scenario='timing')) + '\n')
    with open(md_path, 'w') as f:
        f.write('\n'.join(L))

    # gnuplot data: K, then p50 and p99 for jobsched and pg_cron+pg_net; '-' where not measured.  Lateness is
    # clamped to 0.1 ms for the log scale (the sink logs whole milliseconds).
    ks = sorted({r['k'] for r in js_runs + cr_runs})
    with open(dat_path, 'w') as f:
        f.write('# K jobsched_p50 jobsched_p99 pgcron_p50 pgcron_p99 (ms)\n')
        for k in ks:
            vals = []
            for stack in ('jobsched', 'pg_cron'):
                r = get(scenario='steady', stack=stack, k=k)
                for q in ('late_p50', 'late_p99'):
                    v = r.get(q) if r and not r.get('skipped') else None
                    vals.append('-' if v is None or math.isnan(v) else f'{max(v, 0.1):.2f}')
            f.write(f"{k} {' '.join(vals)}\n")


if __name__ == '__main__':
    cmd, args = sys.argv[1], sys.argv[2:]
    {'burst': burst, 'steady': steady, 'cold': cold, 'report': report, 'https': report_https}[cmd](*args)
