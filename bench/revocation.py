#!/usr/bin/env python3
"""Revocation race for bench/submission.sh: hammer instance 2 with a token while instance 1
regenerates it through the web UI; report calls accepted after the regenerate returned (target 0)
and the time from that return to the first refusal. Standard library only."""
import http.client
import re
import sys
import threading
import time
import urllib.parse

instance1, instance2, username, password, org, token = sys.argv[1:7]
PAGE = "/admin/cloud-service-api-security/sandbox-api-token"
HAMMERS = 16


class Browser:
    def __init__(self, base):
        u = urllib.parse.urlparse(base)
        self.conn = http.client.HTTPConnection(u.hostname, u.port)
        self.cookie = ""

    def request(self, method, path, form=None):
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        res = self.conn.getresponse()
        text = res.read().decode()
        for k, v in res.getheaders():
            if k.lower() == "set-cookie":
                self.cookie = v.split(";", 1)[0]
        return res.status, text


def csrf(html):
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


b = Browser(instance1)
_, login_page = b.request("GET", "/login")
status, _ = b.request("POST", "/login", {"username": username, "password": password, "csrf_token": csrf(login_page)})
assert status == 303, f"login failed: {status}"
_, page = b.request("GET", f"{PAGE}?org={org}")
token_id = re.search(r'id="token-([0-9a-f-]{36})"', page).group(1)
form_csrf = csrf(page)

results = []  # (sent, received, status)
lock = threading.Lock()
stop = threading.Event()


def hammer():
    u = urllib.parse.urlparse(instance2)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    local = []
    while not stop.is_set():
        sent = time.monotonic()
        try:
            conn.request("POST", "/zscsb/submit", body=b"x" * 1024, headers={"Authorization": f"Bearer {token}"})
            res = conn.getresponse()
            res.read()
            local.append((sent, time.monotonic(), res.status))
        except (OSError, http.client.HTTPException):
            # A refusal sent before the body was read closes the connection: open a new one.
            conn.close()
            conn = http.client.HTTPConnection(u.hostname, u.port)
    with lock:
        results.extend(local)


threads = [threading.Thread(target=hammer) for _ in range(HAMMERS)]
for t in threads:
    t.start()
try:
    time.sleep(1.0)
    started = time.monotonic()
    # A plain form post: answered with a redirect to the page that shows the new value once.
    status, _ = b.request("POST", f"{PAGE}/tokens/{token_id}/regenerate?org={org}", {"csrf_token": form_csrf})
    returned = time.monotonic()
    assert status == 303, f"regenerate failed: {status}"
    time.sleep(1.0)
finally:
    # Whatever happened, the hammers stop (they would otherwise run forever).
    stop.set()
    for t in threads:
        t.join()

before = [r for r in results if r[0] < started]
accepted_after = [r for r in results if r[0] >= returned and r[2] == 200]
refusals = sorted(r[1] for r in results if r[2] == 401)
first_refusal_ms = (refusals[0] - returned) * 1000 if refusals else float("nan")
print("revocation race (instance 2 hammered while instance 1 regenerates):")
statuses = {}
for r in results:
    statuses[r[2]] = statuses.get(r[2], 0) + 1
print(f"  statuses: {statuses}")
print(f"  calls: {len(results)} total, {sum(1 for r in before if r[2] == 200)} accepted before the regenerate")
print(f"  regenerate took {(returned - started) * 1000:.1f} ms")
print(f"  accepted after the regenerate returned: {len(accepted_after)} (target 0)")
print(f"  first refusal {first_refusal_ms:+.1f} ms relative to the regenerate's return")
sys.exit(1 if accepted_after else 0)
