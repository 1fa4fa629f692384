"""The hospital inbox end to end, every part real: the `hemalens` command
line (a phone) analyses six real BCCD fields, closes the session and sends
its bundles over tus to a running `hemalens-inbox` (SQLite); a haematologist
reviews the case in headless Chromium (Debian's, driven by playwright-core:
wrong password, log in, open the top case, relabel a cell with the keyboard,
confirm, log out, an expired session); the phone then syncs and holds the
reviews under the reviewer's name with its machine result untouched.

Screenshots land in target/inbox-e2e/ (look at them)."""
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT, data_dir, hemalens_bin

REVIEWER = ("amensah", "Dr A. Mensah", "correct horse battery")
PATIENT = "P-E2E-7"


def inbox_bin():
    for profile in ("release", "debug"):
        p = ROOT / "target" / profile / "hemalens-inbox"
        if p.exists():
            return p
    pytest.fail("hemalens-inbox not built: run `cargo build --release`")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_ok():
    return shutil.which("node") and (ROOT / ".tools/node_modules/playwright-core").exists() and (
        Path(os.environ.get("CHROMIUM", "/usr/bin/chromium")).exists())


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("inbox")
    inbox = inbox_bin()
    db = tmp / "inbox.db"
    common = ["--db", f"sqlite:{db}", "--key", str(tmp / "inbox.key")]

    def admin(*args, input=None):
        r = subprocess.run([str(inbox), *common, *map(str, args)], capture_output=True, text=True, input=input,
                           timeout=120)
        assert r.returncode == 0, f"hemalens-inbox {args}: {r.stderr}"
        return r.stdout

    recipient = admin("key").strip()
    assert recipient.startswith("age1")
    admin("user", "add", REVIEWER[0], "--name", REVIEWER[1], "--role", "reviewer", input=REVIEWER[2] + "\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(tmp / "inbox.log", "w")
    server = subprocess.Popen([str(inbox), *common, "serve", "--listen", f"127.0.0.1:{port}"], stdout=log,
                              stderr=subprocess.STDOUT)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)

    exe = hemalens_bin()
    key = subprocess.run([str(exe), "session", "keygen"], capture_output=True, text=True, check=True).stdout.strip()
    env = {**os.environ, "HEMALENS_HOME": str(tmp / "phone"), "HEMALENS_KEY": key}

    def phone(*args):
        r = subprocess.run([str(exe), *map(str, args), "--user", "chw-1"], capture_output=True, text=True, env=env,
                           timeout=600)
        assert r.returncode == 0, f"hemalens {args}: {r.stderr}"
        return r.stdout

    images = sorted((data_dir() / "bccd_fields" / "images").glob("*.jpg"))[:6]
    sid = json.loads(phone("session", "start", "--patient", PATIENT, "--json"))["session"]
    phone("session", "add", sid, *images)
    phone("session", "close", sid)
    device_id = phone("device", "key").split()[2]
    public_key = phone("device", "key").split()[5]
    admin("device", "enrol", device_id, public_key, "--label", "test clinic phone")
    # The phone enrols the hospital from the card the inbox prints (what its app scans as a QR code).
    card = admin("card", "--public-url", url, "--hospital-name", "central", "--photos-any-network").strip()
    assert card.startswith("hemalens:hospital?name=central&") and recipient in card, card
    assert card.endswith("&photos=any"), card
    phone("hospital", "add-card", card)
    phone("outbox", "queue", sid, "--to", "central")
    phone("outbox", "send", "--wifi", "--wait", "120")
    listing = phone("outbox", "list")
    assert listing.count("delivered") == 2, listing
    yield {"url": url, "db": db, "phone": phone, "sid": sid, "device": device_id, "tmp": tmp, "log": tmp / "inbox.log"}
    server.terminate()
    server.wait(timeout=10)
    log.close()


def browser(phase, world, out):
    r = subprocess.run(["node", str(ROOT / "tests/browser/review_page.mjs"), phase, world["url"], REVIEWER[0],
                        REVIEWER[2], str(out)], capture_output=True, text=True, timeout=300)
    print(r.stdout)
    assert r.returncode == 0, f"browser {phase}:\n{r.stdout}\n{r.stderr}"
    return json.loads((out / f"result-{phase}.json").read_text())


def test_review_in_a_browser_travels_back_to_the_phone(world):
    if not node_ok():
        if os.environ.get("CI"):
            pytest.fail("CI needs node, playwright-core in .tools and /usr/bin/chromium")
        pytest.skip("no node / playwright-core / chromium here")
    out = ROOT / "target" / "inbox-e2e"
    out.mkdir(parents=True, exist_ok=True)
    before = json.loads(world["phone"]("session", "export", world["sid"]))
    result = browser("review", world, out)
    relabel = result["relabel"]

    # The expired session: log in, expire it in the database, then the next page asks again.
    browser("expired-login", world, out)
    con = sqlite3.connect(world["db"])
    con.execute("UPDATE web_sessions SET expires_at = 0")
    con.commit()
    con.close()
    browser("expired", world, out)

    # The phone syncs: both reviews land once, under the reviewer's name.
    synced = world["phone"]("outbox", "sync")
    assert "applied 2" in synced, synced
    again = world["phone"]("outbox", "sync")
    assert "applied 0" in again, again
    after = json.loads(world["phone"]("session", "export", world["sid"]))
    mine = [r for r in after["reviews"] if r["reviewer"] == f"{REVIEWER[1]} (central)"]
    kinds = sorted(r["kind"] for r in mine)
    assert kinds == ["confirm", "relabel_cell"], after["reviews"]
    rel = next(r for r in mine if r["kind"] == "relabel_cell")
    seq, idx = map(int, relabel["cell"].split("-"))
    assert (rel["field"], rel["cell"], rel["to"]) == (seq, idx, relabel["to"])
    assert after["result"] == before["result"], "the machine result is untouched"
    assert any(a["action"] == "relabel_cell" and a["who"] == f"{REVIEWER[1]} (central)" for a in after["audit"])

    # The inbox's log names no patient.
    log = world["log"].read_text()
    assert PATIENT not in log and "delivered" in log
