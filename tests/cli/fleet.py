# SPDX-License-Identifier: GPL-2.0-or-later
"""Fleet builds without a build (so that they run in the sanitizer tree too):

  hosts-file   bad hosts.yaml files refused with FILE:LINE:COLUMN and what is
               wrong, before anything starts (exit 3); bad options (exit 2)
  plan         --dry-run of four recipes over a hosts.yaml: each host's
               limits, each recipe's folder (a second recipe of the same
               name goes to its file's name), the one whose base disk an
               earlier recipe makes, the report; two recipes that would
               write the same folder refused
  no-host      a run whose hosts cannot be reached, or whose memory limit
               is below the install's: every build fails without starting
               (exit 8), the summary and OUT/fleet-report.json say which
               host and why, and nothing else is written"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from recipes import BASE  # noqa: E402
from testlib import check, main, run, vmforge_path  # noqa: E402

UNREACHABLE = "qemu+tcp://127.0.0.9/system"


def recipe(d, file, name, extra=""):
    os.makedirs(d, exist_ok=True)
    for f in ("vmlinuz", "initrd.img"):
        with open(os.path.join(d, f), "w") as fh:
            fh.write(f"not really a {f}\n")
    path = os.path.join(d, file)
    with open(path, "w") as f:
        targets = "" if "targets:" in extra else "targets:\n  - platform: kvm\n"
        f.write(BASE.replace("name: bad", f"name: {name}") + extra + targets)
    return path


def build(*args, rc):
    p = run([vmforge_path(), "build", *args])
    check(p.returncode == rc, f"build {' '.join(args)}: exit {p.returncode}, expected {rc}\n"
          f"{p.stdout}{p.stderr}")
    return p


HOSTS_BAD = {
    "unknown-key": ("hosts:\n  - uri: qemu:///system\n    instals: 2\n",
                    r"hosts.yaml:3:5: unknown key \"instals\" \(a host has uri, installs, memory, "
                    r"pool\)"),
    "zero-installs": ("hosts:\n  - uri: qemu:///system\n    installs: 0\n",
                      r"hosts.yaml:3:15: installs: \"0\" is not a number of installs from 1"),
    "bad-memory": ("hosts:\n  - uri: qemu:///system\n    memory: lots\n",
                   r"hosts.yaml:3:13: memory: \"lots\" is not a size of at least 64M"),
    "no-uri": ("hosts:\n  - installs: 2\n", r"hosts.yaml:2:5: this host has no uri:"),
    "twice": ("hosts:\n  - qemu:///system\n  - uri: qemu:///system\n",
              r"hosts.yaml:3:10: qemu:///system is listed twice \(line 2 too\)"),
    "empty": ("hosts: []\n", r"hosts.yaml:1:8: hosts: the list is empty"),
    "not-a-list": ("hosts: qemu:///system\n", r"hosts.yaml:1:8: hosts: expected a list"),
    "other-key": ("hosts:\n  - qemu:///system\nhost: x\n",
                  r"hosts.yaml:3:1: unknown key \"host\""),
    "no-hosts": ("{}\n", r"hosts.yaml:1:1: no hosts: list"),
    "syntax": ("hosts:\n  - [oops\n", r"hosts.yaml:\d+:\d+: "),
}


def case_hosts_file(work):
    a = recipe(os.path.join(work, "r"), "a.yaml", "a")
    b = recipe(os.path.join(work, "r"), "b.yaml", "b")
    out = os.path.join(work, "out")
    for name, (text, pattern) in HOSTS_BAD.items():
        path = os.path.join(work, "hosts.yaml")
        with open(path, "w") as f:
            f.write(text)
        p = build(a, b, "--hosts", path, "-o", out, rc=3)
        check(re.search(pattern, p.stderr), f"{name}: {pattern!r} not in {p.stderr}")
        check(not p.stdout, f"{name}: printed {p.stdout}")
    p = build(a, b, "--hosts", os.path.join(work, "none.yaml"), "-o", out, rc=3)
    check("none.yaml" in p.stderr and "No such file" in p.stderr, p.stderr)
    p = build(a, b, "--hosts", path, "--connect", "qemu:///system", "-o", out, rc=2)
    check("--hosts and --connect exclude each other" in p.stderr, p.stderr)
    p = build(a, b, "-j", "-1", "-o", out, rc=2)
    check("--jobs -1: expected a number of builds from 1 to 1024" in p.stderr, p.stderr)
    # A bad recipe among good ones: nothing starts.
    bad = recipe(os.path.join(work, "r"), "c.yaml", "c", "tragets: []\n")
    p = build(a, bad, b, "-c", UNREACHABLE, "-c", "qemu+tcp://127.0.0.10/system", "-o", out,
              rc=3)
    check(re.search(r"c.yaml:11:1: unknown key \"tragets\"", p.stderr), p.stderr)
    check(not os.path.exists(out), "the output folder was made for a refused run")


def case_plan(work):
    d = os.path.join(work, "r")
    a = recipe(d, "a.yaml", "a")
    b = recipe(d, "b.yaml", "b", "vars:\n  hostname: b\n")
    a2 = recipe(d, "a-vdi.yaml", "a", "targets:\n  - name: vdi\n    format: vdi\n")
    c = recipe(os.path.join(work, "r2"), "c.yaml", "c", "hardware:\n  memory: 3G\n")
    hosts = os.path.join(work, "hosts.yaml")
    with open(hosts, "w") as f:
        f.write(f"hosts:\n  - uri: {UNREACHABLE}\n    installs: 2\n    memory: 16G\n"
                "    pool: images\n  - qemu+ssh://root@127.0.0.10/system\n")
    out = os.path.join(work, "out")
    p = build(a, b, a2, c, "--hosts", hosts, "-o", out, "-j", "3", "--dry-run", rc=0)
    t = p.stdout
    for want in (rf"Plan for 4 recipes over 2 hosts, 3 local jobs at once, into {re.escape(out)}",
                 rf"host +{re.escape(UNREACHABLE)}: installs 2, memory 16\.0 GiB, pool images",
                 r"host +qemu\+ssh://root@127\.0\.0\.10/system: installs from the host's CPUs, "
                 r"memory from the host",
                 rf"recipe +a +{re.escape(out)}/a \(",
                 rf"recipe +b +{re.escape(out)}/b \(",
                 rf"recipe +a-vdi +{re.escape(out)}/a-vdi \(.*\n.*shared with an earlier recipe: "
                 r"built once with a;",
                 r"recipe +c .*\n.*not in the cache: installed on a host; install 2 vCPU, 3\.0 GiB",
                 rf"report +{re.escape(out)}/fleet-report\.json"):
        check(re.search(want, t), f"{want!r} not in the plan:\n{t}")
    keys = re.findall(r"base disk ([0-9a-f]{16})", t)
    check(len(keys) == 4 and keys[0] == keys[2] and len(set(keys)) == 3, f"keys {keys}")
    check(not os.path.exists(out), "a dry run made the output folder")
    # Two recipes that would both write OUT/a: refused, naming both.
    a3 = recipe(os.path.join(work, "r3"), "a.yaml", "a")
    p = build(a, a3, "-c", UNREACHABLE, "-c", UNREACHABLE, "-o", out, "--dry-run", rc=2)
    check(f"{a} and {a3} would both write {out}/a" in p.stderr, p.stderr)


def case_no_host(work):
    d = os.path.join(work, "r")
    a, b = recipe(d, "a.yaml", "a"), recipe(d, "b.yaml", "b", "vars:\n  hostname: b\n")
    out = os.path.join(work, "out")
    cache = os.path.join(work, "cache")
    p = build(a, b, "-c", UNREACHABLE, "-c", "qemu+tcp://127.0.0.10/system", "-o", out,
              "--cache-dir", cache, rc=8)
    check(re.search(r"Built 0 of 2 recipes", p.stdout), p.stdout)
    for name in ("a", "b"):
        check(re.search(rf"FAILED +{name} +- +no host can take its install \(2\.0 GiB of memory\):"
                        r" 127\.0\.0\.9: .*cannot connect", p.stdout), p.stdout)
    check(f"host {UNREACHABLE} was down:" in p.stdout, p.stdout)
    check(re.search(rf"host {re.escape(UNREACHABLE)}: DOWN: ", p.stderr), p.stderr)
    rep = json.load(open(os.path.join(out, "fleet-report.json")))
    check([h["status"] for h in rep["hosts"]] == ["down", "down"]
          and all("127.0.0." in h["reason"] for h in rep["hosts"]), rep["hosts"])
    check([(x["label"], x["status"], x["exit_status"], x["attempts"]) for x in rep["builds"]]
          == [("a", "failed", 8, []), ("b", "failed", 8, [])], rep["builds"])
    check(sorted(os.listdir(out)) == ["fleet-report.json"], f"written: {os.listdir(out)}")
    # A host that answers but allows less memory than the install needs.
    hosts = os.path.join(work, "hosts.yaml")
    with open(hosts, "w") as f:
        f.write("hosts:\n  - uri: qemu:///system\n    memory: 512M\n")
    p = build(a, b, "--hosts", hosts, "-o", out, "--cache-dir", cache, "--json", rc=8)
    rep = json.loads(p.stdout)
    check(rep["hosts"][0]["status"] == "up" and rep["hosts"][0]["memory"] == 512 << 20,
          rep["hosts"])
    for x in rep["builds"]:
        check(x["status"] == "failed" and re.search(
            r"no host can take its install \(2\.0 GiB of memory\): this host: installs \d+, "
            r"memory 512(\.0)? MiB", x["error"]), x)


if __name__ == "__main__":
    main({"hosts-file": case_hosts_file, "plan": case_plan, "no-host": case_no_host})
