#!/usr/bin/env python3
"""Latency client of bench/send.sh: N single requests, one after another, each its own transaction (autocommit),
from one connection.  Usage: send_client.py STACK N BASE_URL OUT_FILE [GAP_MS] [WARMUP]

STACK is jobsched (SELECT jobsched.send(url, body)), pg_net (SELECT net.http_post(url, body)) or graphile-worker
(SELECT graphile_worker.add_job('post', {url, body})).  Request i goes to BASE_URL/l<i>, so the sink log tells its
arrival.  With autocommit the statement's COMMIT is done by the server before it answers: the commit time is
time.time() taken right after execute() returns (the same clock as nginx's $msec).  WARMUP requests to /w<i> go
first and are not measured (a connection made, caches warm); GAP_MS (10) of sleep after each request keeps one
request from queueing behind the previous.  OUT_FILE gets one line per measured request: i, the time the statement
was sent, the time it returned (Unix seconds).  Connects with the libpq environment (PGHOST, PGPORT, ...)."""
import sys
import time

import psycopg2

SQL = {
    'jobsched': "select jobsched.send(%s, body => %s)",
    'pg_net': "select net.http_post(url := %s, body := %s::jsonb)",
    'graphile-worker': "select (graphile_worker.add_job('post', json_build_object('url', %s::text, 'body', %s::text))).id",
}


def main():
    stack, n, base, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    gap = float(sys.argv[5]) / 1000 if len(sys.argv) > 5 else 0.010
    warm = int(sys.argv[6]) if len(sys.argv) > 6 else 20
    sql = SQL[stack]
    conn = psycopg2.connect('')
    conn.autocommit = True
    cur = conn.cursor()
    body = '{"i":1}'
    for i in range(warm):
        cur.execute(sql, (f'{base}/w{i}', body))
        cur.fetchall()
        time.sleep(max(gap, 0.02))
    time.sleep(0.5)
    rows = []
    for i in range(n):
        t_sent = time.time()
        cur.execute(sql, (f'{base}/l{i}', body))
        t_commit = time.time()
        cur.fetchall()
        rows.append(f'{i} {t_sent:.6f} {t_commit:.6f}\n')
        if gap > 0:
            time.sleep(gap)
    with open(out, 'w') as f:
        f.writelines(rows)
    conn.close()


if __name__ == '__main__':
    main()
