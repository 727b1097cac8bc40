# SPDX-License-Identifier: GPL-2.0-or-later
"""Fleet builds (`vmforge build` of many recipes over several libvirt hosts),
for real: three test hosts of scripts/test-host.sh (each a libvirtd in a mount
namespace of its own, on 127.0.0.2 over ssh, 127.0.0.3 and 127.0.0.4 over
tcp, one install at a time each) and real installs under TCG.

  build   one fleet run of five recipes: the quickstart example, two variants
          of it with their own cache keys (fb, fc), a variant with the
          quickstart's base disk and other targets (quickstart-vdi), and one
          whose kickstart the installer refuses (fbad). Host 3's libvirtd and
          sshd are killed during its first install (fc's):
          - the run ends with fbad's status (7) alone: every other build
            succeeded, fc on another host after one attempt on host 3 (exit
            8), fbad tried once (its own failure is not retried);
          - the installs went to hosts 1 and 2 both (fleet-report.json says
            where; each build's report.json says the same host);
          - the quickstart's base disk was installed once: quickstart-vdi
            waited for it and took it from the cache (three cache entries);
          - every artefact checked with qemu-img, virt-v2v, xmllint and the
            libyal tools; the quickstart's as the single build's over ssh
            (remote.check_quickstart_ssh: bytes on the wire too);
          - timestamped progress lines name recipe, host and stage; each
            build has its own log (fc's with both attempts);
          - host 3 back, `vmforge doctor` removes what the killed install
            left there; nothing is left on any host.
  sigint  Ctrl-C on the terminal of a fleet build (two installs running on
          hosts 1 and 2, a third recipe waiting): exit 130, every build
          stopped and its host clean, the waiting one not started; the
          terminal showed one status line per running build.

The first test host is the remote tests' (left running for them); hosts 2
and 3 are started and stopped by the case."""

import fcntl
import json
import os
import re
import select
import shutil
import subprocess
import sys
import termios
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from build import check_ova, compare, qemu_info  # noqa: E402
from install import workdir  # noqa: E402
from remote import (GUESTFS_ENV, ISO, RECIPE, check_nothing_left,  # noqa: E402
                    check_quickstart_ssh, host, host_leftovers, host_virsh, vmforge)
from testlib import Failure, check, main, read_until, run, vmforge_path  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GIB = 1 << 30
OFFLINE_KS = os.path.join(ROOT, "templates", "kickstart", "offline.ks")


def variant(d, name, targets, hostname=None, kickstart=None):
    """The quickstart example as recipe `name` (its own cache key when
    `hostname` differs from the example's), with other targets."""
    text = open(RECIPE).read().replace("../../.cache/installer/", os.path.dirname(ISO) + "/")
    text = text.replace("name: quickstart", f"name: {name}", 1)
    if hostname:
        text = text.replace("hostname: golden", f"hostname: {hostname}", 1)
    if kickstart:
        text = text.replace("kickstart: offline ", f"kickstart: {kickstart} ", 1)
    text = text[:text.index("targets:")] + "targets:\n" + targets
    path = os.path.join(d, f"{name if name != 'quickstart' else 'quickstart-vdi'}.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def recipes(d):
    rd = os.path.join(d, "recipes")
    os.makedirs(rd)
    shutil.copy(os.path.join(os.path.dirname(RECIPE), "rootpw.txt"), rd)
    # The offline installer stops at a command it does not know.
    with open(os.path.join(rd, "bad.ks"), "w") as f:
        f.write(open(OFFLINE_KS).read().replace("\ntext\n", "\ntext\nfrobnicate --now\n", 1))
    return [RECIPE,
            variant(rd, "fb", "  - platform: vmware\n", hostname="fb"),
            variant(rd, "fc", "  - name: vhd\n    format: vhd\n", hostname="fc"),
            variant(rd, "quickstart", "  - name: vdi\n    format: vdi\n"),
            variant(rd, "fbad", "  - name: qcow2\n    format: qcow2\n", hostname="fbad",
                    kickstart="bad.ks")]


def hosts_file(d, ssh):
    path = os.path.join(d, "hosts.yaml")
    with open(path, "w") as f:
        f.write(f"""# the fleet test's hosts
hosts:
  - uri: {ssh}
    installs: 1
  - uri: {host("uri", "tcp", n=2)}
    installs: 1
  - uri: {host("uri", "tcp", n=3)}
    installs: 1
    memory: 2G
""")
    return path


def wait_for_log(log, text, seconds=180):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if os.path.exists(log) and text in open(log).read():
            return
        time.sleep(1)
    raise Failure(f"{text!r} not in {log} after {seconds} s:\n"
                  f"{open(log).read() if os.path.exists(log) else '(none)'}")


def kill_during_install(proc, log):
    """Waits for fc's install on host 3 to boot its installer, then kills the
    host's daemons. Returns the stderr read so far."""
    seen, placed = read_until(proc, "fc: install on 127.0.0.4", seconds=120)
    if not placed:
        raise Failure(f"fc was not placed on host 3:\n{seen}")
    wait_for_log(log, "booting the installer")
    time.sleep(3)
    host("kill", n=3)
    return seen


def check_fleet_report(out, ssh):
    rep = json.load(open(os.path.join(out, "fleet-report.json")))
    b = {x["label"]: x for x in rep["builds"]}
    h = {x["uri"]: x for x in rep["hosts"]}
    tcp2, tcp3 = host("uri", "tcp", n=2), host("uri", "tcp", n=3)
    check(list(b) == ["quickstart", "fb", "fc", "quickstart-vdi", "fbad"], f"builds {list(b)}")
    for label in ("quickstart", "fb", "fc", "quickstart-vdi"):
        check(b[label]["status"] == "ok" and b[label]["exit_status"] == 0, f"{label}: {b[label]}")
    check(b["fbad"]["status"] == "failed" and b["fbad"]["exit_status"] == 7
          and len(b["fbad"]["attempts"]) == 1 and "unknown command" in b["fbad"]["error"],
          f"fbad: {b['fbad']}")
    fc = b["fc"]["attempts"]
    check(len(fc) == 2 and fc[0]["host"] == tcp3 and fc[0]["exit_status"] == 8
          and "127.0.0.4" in fc[0]["error"] and fc[1]["host"] in (ssh, tcp2)
          and fc[1]["exit_status"] == 0, f"fc's attempts: {fc}")
    check(h[tcp3]["status"] == "down" and h[ssh]["status"] == "up" and h[tcp2]["status"] == "up",
          f"hosts {h}")
    check(b["quickstart"]["host"] == ssh and b["fb"]["host"] == tcp2, f"placement {b}")
    check(h[ssh]["installs_placed"] >= 1 and h[tcp2]["installs_placed"] >= 1,
          f"not spread over both hosts: {h}")
    q, v = b["quickstart"], b["quickstart-vdi"]
    check(q["base_disk"] == "made" and v["base_disk"] == "shared" and v["shared_with"] ==
          "quickstart" and v["cache_key"] == q["cache_key"] and v["attempts"][0]["host"] is None,
          f"shared base disk: {q} {v}")
    return b


def check_build_reports(d, out, cache, b, ssh):
    reports = {k: json.load(open(x["report"])) for k, x in b.items() if x["status"] == "ok"}
    for label, r in reports.items():
        if label != "quickstart-vdi":
            check(r["host"]["uri"] == b[label]["host"], f"{label}: report host {r['host']}")
    check(reports["quickstart-vdi"]["base_disk"]["cache"] == "hit"
          and reports["quickstart"]["base_disk"]["cache"] == "miss",
          "the quickstart's base disk was not made once and shared")
    entries = sorted(n for n in os.listdir(os.path.join(cache, "base")) if len(n) == 64)
    check(len(entries) == 3, f"cache entries {entries}: expected quickstart, fb and fc")
    check_quickstart_ssh(d, os.path.join(out, "quickstart"), cache, ssh)

    def art(label, fmt):
        a = [x for x in reports[label]["artefacts"] if x["format"] == fmt]
        check(len(a) == 1, f"{label}: {fmt} artefacts {a}")
        return a[0]["path"], reports[label]["base_disk"]["path"]

    vdi, base = art("quickstart-vdi", "vdi")
    check(base == reports["quickstart"]["base_disk"]["path"], "quickstart-vdi: another base disk")
    run(["qemu-img", "check", "-f", "vdi", vdi], check_rc=0)
    compare(base, vdi, "vdi")
    ova, base = art("fb", "ova")
    check_ova(d, ova, base, "vmware", "vmx-14", 4 * GIB, "fb")
    vhd, base = art("fc", "vhd")
    check(qemu_info(vhd, "vpc")["virtual-size"] >= 4 * GIB, "fc: vhd size")
    run(["vhdiinfo", vhd], check_rc=0)
    compare(base, vhd, "vpc")


def check_progress_and_logs(out, err):
    for want in (r"(?m)^\d\d:\d\d:\d\d quickstart: install on 127\.0\.0\.2$",
                 r"(?m)^\d\d:\d\d:\d\d fb: install on 127\.0\.0\.3$",
                 r"(?m)^\d\d:\d\d:\d\d fc: host 127\.0\.0\.4 is down: ",
                 r"(?m)^\d\d:\d\d:\d\d fc: trying again on another host$",
                 r"(?m)^\d\d:\d\d:\d\d quickstart-vdi: started \(base disk in the cache\)$",
                 r"(?m)^\d\d:\d\d:\d\d fbad: failed \(exit 7\): .*unknown command",
                 r"(?m)^\d\d:\d\d:\d\d \w[\w-]*: customize$"):
        check(re.search(want, err), f"{want!r} not in the fleet's progress:\n{err[-4000:]}")
    fc = open(os.path.join(out, "fc", "logs", "build.log")).read()
    check(re.search(r"attempt 1 on qemu\+tcp://127\.0\.0\.4/system", fc)
          and re.search(r"attempt 2 on qemu\+", fc), f"fc's log:\n{fc[:3000]}")
    for label in ("quickstart", "fb", "quickstart-vdi", "fbad"):
        log = open(os.path.join(out, label, "logs", "build.log")).read()
        check("attempt 2" not in log and "vmforge build " in log, f"{label}'s log:\n{log[:2000]}")


def start_hosts():
    """Test hosts 1 to 3 up; hosts 2 and 3 (the fleet's own) without what an
    earlier run of this case, ended before it could clean, left in them."""
    host("start")
    for n in (2, 3):
        host("start", n=n)
        for x in host_leftovers(n):
            kind, name = x.split(" ", 1)
            if kind == "volume":
                host_virsh("vol-delete", name, "--pool", "default", n=n)
            elif kind == "domain":
                host_virsh("destroy", name, n=n)
    return host("uri", "ssh")


def case_build(work):
    ssh = start_hosts()
    state = os.path.join(work, "state")
    env = dict(os.environ, **GUESTFS_ENV, VMFORGE_STATE_DIR=state)
    d = workdir(work)
    out, cache = os.path.join(d, "out"), os.path.join(d, "cache")
    try:
        proc = subprocess.Popen(
            [vmforge_path(), "build", *recipes(d), "--hosts", hosts_file(d, ssh), "-o", out,
             "--accel", "tcg", "--cache-dir", cache, "--no-sync", "-j", "2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        seen = kill_during_install(proc, os.path.join(out, "fc", "logs", "build.log"))
        stdout, err = proc.communicate(timeout=1500)
        err = seen + err
        check(proc.returncode == 7, f"exit {proc.returncode}, expected fbad's 7\n{stdout}\n"
              f"{err[-6000:]}")
        check(re.search(r"Built 4 of 5 recipes", stdout)
              and re.search(r"FAILED +fbad .*unknown command", stdout)
              and "host qemu+tcp://127.0.0.4/system was down" in stdout, stdout)
        b = check_fleet_report(out, ssh)
        check_build_reports(d, out, cache, b, ssh)
        check_progress_and_logs(out, err)
        # Host 3 back: what the killed install left there is removed.
        host("start", n=3)
        p = vmforge(["doctor", "--no-guests", "--connect", host("uri", "tcp", n=3)], env, rc=0)
        check(re.search(r"ok +leftovers +removed what earlier runs left on 127\.0\.0\.4",
                        p.stdout), p.stdout)
        check_nothing_left(state, out, hosts=(1, 2, 3))
    finally:
        host("stop", n=2)
        host("stop", n=3)



def read_pty(fd, until, seconds):
    """What the terminal shows (its master end `fd`) until `until` matches
    or `seconds` pass."""
    text, deadline = "", time.time() + seconds
    while time.time() < deadline and not re.search(until, text):
        r, _, _ = select.select([fd], [], [], 1)
        if r:
            try:
                text += os.read(fd, 65536).decode(errors="replace")
            except OSError:
                break
    return text


def case_sigint(work):
    """Ctrl-C on the terminal of a fleet build whose two installs run on
    hosts 1 and 2 (a third recipe waits): every build stops and removes what
    it made on its host, the one waiting is not started, exit 130; the
    terminal showed one status line per running build."""
    host("start")
    host("start", n=2)
    state = os.path.join(work, "state")
    env = dict(os.environ, **GUESTFS_ENV, VMFORGE_STATE_DIR=state)
    d = workdir(work)
    out = os.path.join(d, "out")
    paths = recipes(d)
    with open(os.path.join(d, "hosts.yaml"), "w") as f:
        f.write("hosts:\n" + "".join(f"  - uri: {host('uri', 'tcp', n=n)}\n    installs: 1\n"
                                     for n in (1, 2)))
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(
            [vmforge_path(), "build", paths[1], paths[2], paths[4], "--hosts",
             os.path.join(d, "hosts.yaml"), "-o", out, "--accel", "tcg", "--cache-dir",
             os.path.join(d, "cache")], stdin=slave, stdout=slave, stderr=slave, env=env,
            start_new_session=True, preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        # Both installs booting their installers: the status lines say so.
        shown = read_pty(master, r"fb +127\.0\.0\.2 +install +\d+%[^\n]*\n[^\n]*fc +127\.0\.0\.3 +"
                         r"install +\d+%", 240)
        check(re.search(r"fc +127\.0\.0\.3 +install +\d+%", shown) and "\033[" in shown,
              f"no status line per running build on the terminal:\n{shown[-3000:]}")
        # Both installer domains running on their hosts.
        for label in ("fb", "fc"):
            wait_for_log(os.path.join(out, label, "logs", "build.log"), "booting the installer")
        shown += read_pty(master, r"fc +127\.0\.0\.3 +install", 5)
        os.write(master, b"\x03")  # Ctrl-C, as the terminal's user types it
        shown += read_pty(master, r"Report: ", 120)
        proc.wait(timeout=60)
    finally:
        os.close(master)
        host("stop", n=2)
    check(proc.returncode == 130, f"exit {proc.returncode}\n{shown[-4000:]}")
    check("Interrupt: stopping every build" in shown, shown[-3000:])
    rep = json.load(open(os.path.join(out, "fleet-report.json")))
    got = [(b["label"], b["status"], b["exit_status"]) for b in rep["builds"]]
    check(got == [("fb", "failed", 130), ("fc", "failed", 130), ("fbad", "not started", 130)],
          f"builds {got}")
    for label in ("fb", "fc"):
        log = open(os.path.join(out, label, "logs", "build.log")).read()
        check("interrupted" in log, f"{label}'s log:\n{log[-2000:]}")
    host("start", n=2)
    try:
        check_nothing_left(state, out, hosts=(1, 2))
    finally:
        host("stop", n=2)


if __name__ == "__main__":
    main({"build": case_build, "sigint": case_sigint})
