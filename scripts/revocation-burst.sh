#!/usr/bin/env bash
# Revoking credentials in a burst (issue 11, BENCHMARKS.md "Issuer (issue 11), session 5"):
# issues COUNT credentials, waits until the registry serves their status lists, then fires the
# COUNT revoke calls at once (CONCURRENCY connections) and polls the registry's status list URLs
# (the `statuslist+jwt` each credential names, decoded here: base64url, zlib, 2 bits per entry)
# until every one of the COUNT entries reads 1 (invalid). Prints the time from the first revoke
# sent to the last revoke answered, and to the first poll that saw all COUNT revoked.
#
#   scripts/revocation-burst.sh --base http://127.0.0.1:18090 --tenant bench --token TOKEN \
#       --body body.json [--count 10000] [--concurrency 64]
#
# The server, tenant and type come from scripts/issuer-load.sh (PARTS=burst runs only this
# after its setup); body.json is an issuance request of a type with revocation. Needs python3.
set -euo pipefail
exec python3 - "$@" <<'PY'
import argparse, base64, http.client, json, queue, sys, threading, time, urllib.parse, zlib

p = argparse.ArgumentParser()
p.add_argument("--base", required=True)
p.add_argument("--tenant", required=True)
p.add_argument("--token", required=True)
p.add_argument("--body", required=True)
p.add_argument("--count", type=int, default=10000)
p.add_argument("--concurrency", type=int, default=64)
p.add_argument("--poll-ms", type=int, default=50)
p.add_argument("--timeout-s", type=int, default=120)
args = p.parse_args()
base = urllib.parse.urlsplit(args.base)
body = open(args.body, "rb").read()
credentials = f"/issuer/tenants/{args.tenant}/credentials"
auth = {"authorization": f"Bearer {args.token}", "content-type": "application/json"}

def connection(netloc):
    host, port = netloc.split(":")
    return http.client.HTTPConnection(host, int(port), timeout=60)

def request(conn, method, path, payload=None, headers=None):
    conn.request(method, path, body=payload, headers=headers or {})
    response = conn.getresponse()
    return response.status, response.read()

def run_workers(jobs, work, concurrency):
    """Runs work(conn, job) for every job on `concurrency` threads, one keep-alive connection
    each, started together; returns the results in job order."""
    todo = queue.Queue()
    for i, job in enumerate(jobs):
        todo.put((i, job))
    results = [None] * len(jobs)
    start = threading.Barrier(concurrency + 1)
    errors = []
    def worker():
        conn = connection(base.netloc)
        start.wait()
        while True:
            try:
                i, job = todo.get_nowait()
            except queue.Empty:
                return
            try:
                results[i] = work(conn, job)
            except Exception as e:  # reported after the burst
                errors.append(repr(e))
                conn = connection(base.netloc)
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    start.wait()
    began = time.monotonic()
    for t in threads:
        t.join()
    if errors:
        sys.exit(f"error: {len(errors)} requests failed, first: {errors[0]}")
    return began, results

def statuses(uri):
    """The served Token Status List at uri, as (bytes of 2-bit entries, the JWT)."""
    u = urllib.parse.urlsplit(uri)
    conn = connection(u.netloc)
    status, jwt = request(conn, "GET", u.path)
    conn.close()
    if status != 200:
        return None, None
    payload = jwt.decode().split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    lst = claims["status_list"]
    assert lst["bits"] == 2, lst["bits"]
    raw = base64.urlsafe_b64decode(lst["lst"] + "=" * (-len(lst["lst"]) % 4))
    return zlib.decompress(raw), jwt

def status_at(entries, index):
    return (entries[index // 4] >> ((index % 4) * 2)) & 0b11

# 1. Issue.
def issue(conn, _):
    status, answer = request(conn, "POST", credentials, body, auth)
    if status != 201:
        raise RuntimeError(f"issue: {status} {answer[:300]!r}")
    answer = json.loads(answer)
    return answer["id"], answer["status"]["uri"], answer["status"]["index"]

t = time.monotonic()
_, issued = run_workers(range(args.count), issue, min(args.concurrency, 32))
print(f"issued {len(issued)} credentials in {time.monotonic() - t:.1f} s")
by_list = {}
for cid, uri, index in issued:
    by_list.setdefault(uri, []).append(index)
shares = ", ".join("%d in %s" % (len(v), k.rsplit("/", 1)[1]) for k, v in by_list.items())
print(f"their status lists: {len(by_list)} ({shares})")

# 2. Wait until the registry serves every list with all these entries valid.
deadline = time.monotonic() + args.timeout_s
for uri, indexes in by_list.items():
    while True:
        entries, _ = statuses(uri)
        if entries is not None and all(status_at(entries, i) == 0 for i in indexes):
            break
        if time.monotonic() > deadline:
            sys.exit(f"error: {uri} not served with the entries valid within {args.timeout_s} s")
        time.sleep(0.1)
print("the registry serves every list, all entries valid")

# 3. The burst, with a poller watching the registry.
seen = {}  # uri -> distinct JWTs seen after the burst started
done = {}
burst_started = threading.Event()
t0_box = []
def poll():
    burst_started.wait()
    while len(done) < len(by_list) and time.monotonic() < deadline:
        for uri, indexes in by_list.items():
            if uri in done:
                continue
            entries, jwt = statuses(uri)
            now = time.monotonic()
            if jwt is not None:
                seen.setdefault(uri, set()).add(jwt)
            if entries is not None and all(status_at(entries, i) == 1 for i in indexes):
                done[uri] = now
        time.sleep(args.poll_ms / 1000)

def revoke(conn, job):
    cid = job
    if not t0_box:
        t0_box.append(time.monotonic())
        burst_started.set()
    status, answer = request(conn, "POST", f"{credentials}/{cid}/revoke", b"", auth)
    if status != 200:
        raise RuntimeError(f"revoke: {status} {answer[:300]!r}")
    return time.monotonic()

deadline = time.monotonic() + args.timeout_s
poller = threading.Thread(target=poll)
poller.start()
began, answered = run_workers([cid for cid, _, _ in issued], revoke, args.concurrency)
t0 = t0_box[0]
last_answer = max(answered)
poller.join()
if len(done) < len(by_list):
    sys.exit(f"error: not every entry revoked at the registry within {args.timeout_s} s")
visible = max(done.values())
versions = sum(len(v) for v in seen.values())
print(f"RESULT revoked={len(issued)} concurrency={args.concurrency} "
      f"revoke_calls_s={last_answer - t0:.2f} revoke_calls_per_s={len(issued) / (last_answer - t0):.0f} "
      f"registry_shows_all_s={visible - t0:.2f} after_last_answer_s={visible - last_answer:.2f} "
      f"list_versions_seen={versions} lists={len(by_list)} poll_ms={args.poll_ms}")
PY
