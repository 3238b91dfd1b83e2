// graphile-worker beside jobsched.send() (bench/send.sh, latency): one task, "post", doing a keep-alive fetch POST of
// the job's payload {url, body} to the sink and reading the answer.  Started by send.sh with NODE_PATH pointing at the
// private npm install (GW_DIR) and PGHOST/PGPORT/PGUSER/PGDATABASE naming the cluster that holds the graphile_worker
// schema.  Usage: node send_gw_worker.js CONCURRENCY STATS_FILE
//   It is woken by LISTEN "jobs:insert" (graphile_worker.add_job NOTIFYs at commit), as designed; pollInterval stays
//   at its default (2,000 ms), the fallback.  It counts the notifications it gets (the pool:listen:notification
//   event) and the jobs it starts and completes, and writes them to STATS_FILE (JSON) on SIGTERM, after a graceful
//   shutdown, so send.sh can check that the run loop was woken by NOTIFY and not by polling.
const { run } = require("graphile-worker");
const { Pool } = require("pg");
const { EventEmitter } = require("events");
const fs = require("fs");

const concurrency = parseInt(process.argv[2] || "1", 10);
const statsFile = process.argv[3];
const stats = { listen_success: 0, notifications: 0, started: 0, completed: 0, failed: 0, errors: [] };

async function main() {
  // node-postgres reads PGHOST (the unix socket directory), PGPORT, PGUSER, PGDATABASE from the environment
  const pgPool = new Pool({ max: concurrency + 2 });
  pgPool.on("error", (e) => { stats.errors.push(String(e)); });
  const events = new EventEmitter();
  events.on("pool:listen:success", () => { stats.listen_success++; });
  events.on("pool:listen:notification", () => { stats.notifications++; });
  events.on("job:start", () => { stats.started++; });
  events.on("job:success", () => { stats.completed++; });
  events.on("job:error", ({ error }) => {
    stats.failed++;
    if (stats.errors.length < 5) stats.errors.push(String(error && error.message || error));
  });
  const runner = await run({
    pgPool,
    concurrency,
    noHandleSignals: true,
    events,
    taskList: {
      post: async (payload) => {
        // Node 20's fetch (undici) keeps connections alive in its global pool: one connection is reused
        const res = await fetch(payload.url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: payload.body,
        });
        await res.text();
        if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      },
    },
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    try { await runner.stop(); } catch (e) { stats.errors.push(String(e)); }
    try { await pgPool.end(); } catch (e) { /* ignore */ }
    if (statsFile) fs.writeFileSync(statsFile, JSON.stringify(stats) + "\n");
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  await runner.promise;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
