#!/usr/bin/env python3
"""vmforge publish against real services: a Keystone (uwsgi) and a
glance-api from Debian's archive on 127.0.0.1 (scripts/openstack-services.sh,
started by the first case, stopped by scripts/test.sh), libvirt's storage
pools on this host and on the remote test host (scripts/test-host.sh).

What arrived is checked with tools that share no code with vmforge: the
`openstack` client (image show, image save, image list), sha512sum's digest
against Glance's os_hash_value, `virsh vol-download` and `qemu-img compare`.

Cases:
  glance      images of a file and an OVA: formats, properties, tags,
              visibility, active, os_hash_value, saved back byte for byte;
              a republish reuses the image (nothing sent); --force sends
  auth        an application credential in clouds.yaml, the OS_* variables
              alone, a token: each publishes; secure.yaml's password wins;
              Keystone over TLS: trusted with cacert:, refused without it,
              taken with verify: false
  refusals    a wrong password (401, exit 1, nothing made), a region with no
              image endpoint, a cloud not in clouds.yaml, no clouds.yaml,
              bad destinations and options;
              the password is in no output
  interrupt   Ctrl-C in the middle of an upload (exit 130, no image left);
              glance-api killed in the middle of one and started again: the
              upload is sent again and only the finished image is left
  pools       a local pool and the test host's (qemu+tcp): the volume
              downloaded back equals the image (qemu-img compare), libvirt
              reads its format; an existing volume is refused, --force
              replaces it
  build       vmforge build --publish of the quickstart recipe with publish:
              keys (the cached base disk): the image in Glance carries the
              target's OpenStack properties and the recipe's name, tags and
              visibility; report.json records it; vmforge publish of the
              report then reuses it; the image changed since the build (a
              byte flipped): refused, the image it made deleted
"""

import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from testlib import Failure, check, main, random_bytes, read_until, run, vmforge_path  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SERVICES = os.path.join(ROOT, "scripts", "openstack-services.sh")
OS_DIR = os.environ.get("VMFORGE_OPENSTACK_DIR") or os.path.join(ROOT, ".cache", "openstack")
CLOUDS = os.path.join(OS_DIR, "clouds.yaml")
CLOUD = "vmforge-test"
# Where openstack-services.sh runs Keystone (its KEYSTONE_PORT).
KEYSTONE = f"http://127.0.0.1:{os.environ.get('KEYSTONE_PORT') or 5000}"
MIB = 1 << 20
PY = "/usr/bin/python3"


def services_up():
    p = run(["bash", SERVICES, "start", OS_DIR])
    if p.returncode != 0:
        raise Failure(f"openstack-services.sh start: exit {p.returncode}\n{p.stdout}{p.stderr}")


def password():
    with open(os.path.join(OS_DIR, "publisher.pw")) as f:
        return f.read().strip()


def os_env(clouds=CLOUDS):
    return {"OS_CLIENT_CONFIG_FILE": clouds, "OS_CLIENT_SECURE_FILE": "/nonexistent",
            "OS_CLOUD": ""}


def openstack(*args, cloud=CLOUD, check_rc=0):
    p = run([PY, "/usr/bin/openstack", "--os-cloud", cloud, *args], check_rc=check_rc,
            env=os_env())
    return p.stdout


def image_show(name_or_id):
    return json.loads(openstack("image", "show", name_or_id, "-f", "json"))


def images_named(name):
    return [i for i in json.loads(openstack("image", "list", "--name", name, "-f", "json"))]


def all_images():
    return json.loads(openstack("image", "list", "-f", "json"))


def delete_images(name):
    for i in images_named(name):
        openstack("image", "delete", i["ID"])


class Outputs:
    """Every output of vmforge in a case, to look for secrets afterwards."""

    def __init__(self):
        self.text = ""

    def publish(self, *args, rc=0, env=None, clouds=CLOUDS):
        e = os_env(clouds)
        e.update(env or {})
        p = run([vmforge_path(), "publish", *map(str, args)], env=e)
        self.text += p.stdout + p.stderr
        if p.returncode != rc:
            raise Failure(f"vmforge publish {' '.join(map(str, args))}: exit {p.returncode}, "
                          f"expected {rc}\nstdout: {p.stdout[-3000:]}\nstderr: {p.stderr[-3000:]}")
        return p

    def no_secret(self, *secrets):
        for s in secrets:
            check(s not in self.text, "a secret appears in vmforge's output")


def make_disk(work, name, mib=64, data_mib=12, seed=1):
    """A sparse raw disk with some random data, converted by vmforge."""
    raw = os.path.join(work, name + ".raw")
    with open(raw, "wb") as f:
        f.truncate(mib * MIB)
        f.seek(2 * MIB)
        f.write(random_bytes(data_mib * MIB, seed=seed))
    return raw


def convert(work, raw, to, name):
    out = os.path.join(work, "img")
    os.makedirs(out, exist_ok=True)
    run([vmforge_path(), "convert", raw, "--to", to, "-o", out, "-n", name, "-q", "--no-sync"],
        check_rc=0)
    ext = {"ova": "ova", "qcow2": "qcow2", "vmdk": "vmdk"}[to.split(":")[0]]
    return os.path.join(out, f"{name}.{ext}")


def sha512(path):
    return run(["sha512sum", path], check_rc=0).stdout.split()[0]


def check_saved(image_id, path, work):
    """openstack image save gives back the file, byte for byte."""
    back = os.path.join(work, "saved.bin")
    openstack("image", "save", "--file", back, image_id)
    run(["cmp", back, path], check_rc=0)
    os.unlink(back)


def check_image(img, path, fmt, container):
    check(img["status"] == "active", f"status {img['status']}")
    check(img["disk_format"] == fmt and img["container_format"] == container,
          f"formats {img['disk_format']}/{img['container_format']}")
    props = img["properties"]
    check(props.get("os_hash_algo") == "sha512", f"os_hash_algo {props.get('os_hash_algo')}")
    check(props.get("os_hash_value") == sha512(path), "os_hash_value is not the file's sha512sum")
    check(img["size"] == os.path.getsize(path), f"size {img['size']}")


def published(p):
    return json.loads(p.stdout)["published"]


def case_glance(work):
    services_up()
    out = Outputs()
    qcow2 = convert(work, make_disk(work, "pub-glance"), "qcow2", "pub-glance")
    delete_images("pub-glance")
    p = out.publish(qcow2, "--to", f"glance:{CLOUD}", "--tag", "golden", "--tag", "ci",
                    "--property", "os_distro=debian", "--visibility", "private", "--json")
    rec = published(p)
    check(len(rec) == 1 and not rec[0]["reused"], f"records: {rec}")
    check(rec[0]["bytes_sent"] == os.path.getsize(qcow2), f"bytes_sent {rec[0]['bytes_sent']}")
    check(rec[0]["url"].endswith("/v2/images/" + rec[0]["id"]), f"url {rec[0]['url']}")
    img = image_show(rec[0]["id"])
    check_image(img, qcow2, "qcow2", "bare")
    check(img["visibility"] == "private", f"visibility {img['visibility']}")
    check(sorted(img["tags"]) == ["ci", "golden"], f"tags {img['tags']}")
    check(img["properties"].get("os_distro") == "debian", "os_distro")
    check(img["properties"].get("architecture") == "x86_64", "architecture")
    check(img["min_disk"] == 1, f"min_disk {img['min_disk']} (64 MiB virtual: 1 GiB)")
    check_saved(rec[0]["id"], qcow2, work)
    # Again: the same image is there, nothing is sent.
    again = published(out.publish(qcow2, "--to", f"glance:{CLOUD}", "--json", "-q"))
    check(again[0]["reused"] and again[0]["bytes_sent"] == 0 and again[0]["id"] == rec[0]["id"],
          f"republish: {again}")
    check(len(images_named("pub-glance")) == 1, "a republish made another image")
    forced = published(out.publish(qcow2, "--to", f"glance:{CLOUD}", "--json", "-q", "--force"))
    check(not forced[0]["reused"] and forced[0]["id"] != rec[0]["id"], f"--force: {forced}")
    check(len(images_named("pub-glance")) == 2, "--force did not send a new image")
    delete_images("pub-glance")
    # An OVA: container ova, its disks VMDK.
    ova = convert(work, make_disk(work, "pub-ova", data_mib=4, seed=2), "ova", "pub-ova")
    delete_images("pub-ova")
    rec = published(out.publish(ova, "--to", f"glance:{CLOUD}", "--json", "-q"))
    check_image(image_show(rec[0]["id"]), ova, "vmdk", "ova")
    check_saved(rec[0]["id"], ova, work)
    delete_images("pub-ova")
    out.no_secret(password())


def write_clouds(path, auth, extra=""):
    lines = [f"      {k}: {v}" for k, v in auth.items()]
    with open(path, "w") as f:
        f.write("clouds:\n  c:\n    auth:\n" + "\n".join(lines) + "\n" + extra)


def base_auth():
    return {"auth_url": KEYSTONE + "/v3", "username": "publisher",
            "project_name": "images", "user_domain_name": "Default",
            "project_domain_name": "Default"}


def case_auth(work):
    services_up()
    out = Outputs()
    qcow2 = convert(work, make_disk(work, "pub-auth", data_mib=2, seed=3), "qcow2", "pub-auth")
    delete_images("pub-auth")
    # An application credential (made by the openstack client), in clouds.yaml.
    cred = json.loads(openstack("application", "credential", "create", f"vmf-{os.getpid()}",
                                "-f", "json"))
    clouds = os.path.join(work, "clouds.yaml")
    write_clouds(clouds, {"auth_url": KEYSTONE,
                          "application_credential_id": cred["id"],
                          "application_credential_secret": cred["secret"]},
                 "    auth_type: v3applicationcredential\n    region_name: RegionOne\n")
    try:
        rec = published(out.publish(qcow2, "--to", "glance:c", "--json", "-q", clouds=clouds))
        check_image(image_show(rec[0]["id"]), qcow2, "qcow2", "bare")
    finally:
        openstack("application", "credential", "delete", cred["id"])
    delete_images("pub-auth")
    # The OS_* variables alone (no cloud named, no clouds.yaml).
    env = {"OS_AUTH_URL": KEYSTONE + "/v3", "OS_USERNAME": "publisher",
           "OS_PASSWORD": password(), "OS_PROJECT_NAME": "images",
           "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
           "OS_INTERFACE": "public"}
    rec = published(out.publish(qcow2, "--to", "glance", "--json", "-q", env=env,
                                clouds="/nonexistent"))
    check(not rec[0]["reused"], "OS_*: not sent")
    # A token (issued by the openstack client) with the project to scope to.
    token = openstack("token", "issue", "-f", "value", "-c", "id").strip()
    env = {"OS_AUTH_URL": KEYSTONE + "/v3", "OS_TOKEN": token,
           "OS_PROJECT_NAME": "images", "OS_PROJECT_DOMAIN_NAME": "Default"}
    rec2 = published(out.publish(qcow2, "--to", "glance:", "--json", "-q", env=env,
                                 clouds="/nonexistent"))
    check(rec2[0]["reused"] and rec2[0]["id"] == rec[0]["id"], f"token: {rec2}")
    # secure.yaml's password completes a clouds.yaml without one.
    auth = base_auth()
    write_clouds(clouds, auth)
    secure = os.path.join(work, "secure.yaml")
    with open(secure, "w") as f:
        f.write(f"clouds:\n  c:\n    auth:\n      password: {password()}\n")
    rec3 = published(out.publish(qcow2, "--to", "glance:c", "--json", "-q", clouds=clouds,
                                 env={"OS_CLIENT_SECURE_FILE": secure}))
    check(rec3[0]["id"] == rec[0]["id"], f"secure.yaml: {rec3}")
    # Keystone over TLS (openstack-services.sh's certificate): trusted with
    # cacert:, refused without it, taken with verify: false.
    auth["auth_url"] = f"https://127.0.0.1:{os.environ.get('KEYSTONE_TLS_PORT') or 5443}/v3"
    auth["password"] = password()
    write_clouds(clouds, auth, f"    cacert: {os.path.join(OS_DIR, 'tls', 'ca.pem')}\n")
    rec4 = published(out.publish(qcow2, "--to", "glance:c", "--json", "-q", clouds=clouds))
    check(rec4[0]["id"] == rec[0]["id"], f"cacert: {rec4}")
    write_clouds(clouds, auth)
    p = out.publish(qcow2, "--to", "glance:c", rc=1, clouds=clouds)
    check("certificate" in p.stderr and "cloud c" in p.stderr, f"no cacert: {p.stderr}")
    write_clouds(clouds, auth, "    verify: false\n")
    rec5 = published(out.publish(qcow2, "--to", "glance:c", "--json", "-q", clouds=clouds))
    check(rec5[0]["id"] == rec[0]["id"], f"verify: false: {rec5}")
    delete_images("pub-auth")
    out.no_secret(password(), cred["secret"], token)


def case_refusals(work):
    services_up()
    out = Outputs()
    qcow2 = convert(work, make_disk(work, "pub-refused", data_mib=1, seed=4), "qcow2",
                    "pub-refused")
    before = len(all_images())
    clouds = os.path.join(work, "clouds.yaml")
    wrong = "wrong-Pa55word-4711"
    auth = base_auth()
    auth["password"] = wrong
    write_clouds(clouds, auth)
    p = out.publish(qcow2, "--to", "glance:c", rc=1, clouds=clouds)
    check("401" in p.stderr and "cloud c" in p.stderr, f"wrong password: {p.stderr}")
    check(len(all_images()) == before, "a refused publish made an image")
    # A region the catalog has no image endpoint in.
    auth["password"] = password()
    write_clouds(clouds, auth, "    region_name: Nowhere\n")
    p = out.publish(qcow2, "--to", "glance:c", rc=1, clouds=clouds)
    check("no image (Glance) endpoint for interface public in region Nowhere" in p.stderr,
          p.stderr)
    p = out.publish(qcow2, "--to", "glance:nosuch", rc=3, clouds=clouds)
    check("cloud nosuch is not in" in p.stderr and "its clouds: c" in p.stderr, p.stderr)
    p = out.publish(qcow2, "--to", "glance:c", rc=3, clouds=os.path.join(work, "none.yaml"))
    check("names " + os.path.join(work, "none.yaml") + ", which does not exist" in p.stderr,
          p.stderr)
    p = out.publish(qcow2, "--to", "s3:bucket", rc=2)
    check("glance:[CLOUD] or libvirt:URI/POOL" in p.stderr, p.stderr)
    p = out.publish(qcow2, "--to", "libvirt:qemu:///system", rc=2)
    check("libvirt:URI/POOL" in p.stderr, p.stderr)
    p = out.publish(qcow2, rc=2)
    check("--to" in p.stderr, p.stderr)
    p = out.publish(qcow2, "--to", "glance:c", "--visibility", "everyone", rc=2)
    check("--visibility everyone" in p.stderr, p.stderr)
    p = out.publish(os.path.join(work, "missing.qcow2"), "--to", "glance:c", rc=3)
    check("missing.qcow2" in p.stderr, p.stderr)
    # A file whose name says qcow2 but which is raw.
    fake = os.path.join(work, "fake.qcow2")
    with open(fake, "wb") as f:
        f.write(b"\0" * MIB)
    p = out.publish(fake, "--to", "glance:c", rc=3)
    check("its name says qcow2" in p.stderr, p.stderr)
    check(len(all_images()) == before, "a refused publish made an image")
    out.no_secret(wrong, password())


def start_publish(path, *extra):
    env = dict(os.environ)
    env.update(os_env())
    return subprocess.Popen([vmforge_path(), "publish", path, "--to", f"glance:{CLOUD}",
                             "--limit-rate", "2M", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def glance_pid():
    with open(os.path.join(OS_DIR, "glance.pid")) as f:
        return int(f.read().strip())


def case_interrupt(work):
    services_up()
    raw = make_disk(work, "pub-int", mib=64, data_mib=24, seed=5)
    qcow2 = convert(work, raw, "qcow2:compress=off", "pub-int")
    delete_images("pub-int")
    # Ctrl-C while the data is on its way (2 MiB/s: about 12 s).
    proc = start_publish(qcow2)
    seen, ok = read_until(proc, "% (", seconds=60)
    check(ok, f"no upload progress: {seen}")
    time.sleep(2)
    check(len(images_named("pub-int")) == 1, "the image is not there during its upload")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    check(proc.returncode == 130, f"Ctrl-C: exit {proc.returncode}: {err[-2000:]}")
    check(images_named("pub-int") == [], f"left after Ctrl-C: {images_named('pub-int')}")
    # glance-api killed mid-upload and started again: sent again, one image.
    proc = start_publish(qcow2, "--json")
    seen, ok = read_until(proc, "% (", seconds=60)
    check(ok, f"no upload progress: {seen}")
    time.sleep(2)
    os.kill(glance_pid(), signal.SIGKILL)
    time.sleep(1)
    run(["bash", SERVICES, "restart-glance", OS_DIR], check_rc=0)
    out, err = proc.communicate(timeout=600)
    check(proc.returncode == 0, f"after glance-api came back: exit {proc.returncode}: "
          f"{err[-3000:]}")
    check("sending it again" in err, f"the upload was not sent again: {err[-2000:]}")
    rec = json.loads(out)["published"]
    left = images_named("pub-int")
    check([i["ID"] for i in left] == [rec[0]["id"]], f"images after the kill: {left}")
    check_image(image_show(rec[0]["id"]), qcow2, "qcow2", "bare")
    saving = [i for i in all_images() if i["Status"] != "active"]
    check(saving == [], f"images not active: {saving}")
    delete_images("pub-int")


def virsh(uri, *args, check_rc=0):
    return run(["virsh", "-q", "-c", uri, *args], check_rc=check_rc).stdout


def check_volume(uri, pool, vol, path, work):
    xml = virsh(uri, "vol-dumpxml", "--pool", pool, vol)
    check("<format type='qcow2'/>" in xml, f"libvirt does not see a qcow2: {xml}")
    back = os.path.join(work, "back.qcow2")
    virsh(uri, "vol-download", "--sparse", "--pool", pool, vol, back)
    run(["qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", path, back], check_rc=0)
    run(["cmp", path, back], check_rc=0)
    os.unlink(back)


def publish_to_pool(uri, pool, qcow2, work):
    dest = f"libvirt:{uri}/{pool}/pub-pool.qcow2"
    out = Outputs()
    rec = published(out.publish(qcow2, "--to", dest, "--json", "-q"))
    check(rec[0]["name"] == "pub-pool.qcow2" and rec[0]["bytes_sent"] > 0, f"records: {rec}")
    check_volume(uri, pool, "pub-pool.qcow2", qcow2, work)
    p = out.publish(qcow2, "--to", dest, rc=4)
    check("exists" in p.stderr and "--force" in p.stderr, p.stderr)
    out.publish(qcow2, "--to", dest, "--force", "-q")
    check_volume(uri, pool, "pub-pool.qcow2", qcow2, work)
    virsh(uri, "vol-delete", "--pool", pool, "pub-pool.qcow2")


def case_pools(work):
    qcow2 = convert(work, make_disk(work, "pub-pool", mib=512, data_mib=8, seed=6), "qcow2",
                    "pub-pool")
    # A pool of this host's libvirtd, on a folder of the test's.
    pooldir = os.path.join(work, "pool")
    os.makedirs(pooldir)
    pool = f"vmforge-pubtest-{os.getpid()}"
    virsh("qemu:///system", "pool-create-as", pool, "dir", "--target", pooldir)
    try:
        publish_to_pool("qemu:///system", pool, qcow2, work)
    finally:
        virsh("qemu:///system", "pool-destroy", pool, check_rc=None)
    # The remote test host's default pool, over qemu+tcp: nothing shared.
    host = os.path.join(ROOT, "scripts", "test-host.sh")
    run(["bash", host, "start"], check_rc=0)
    uri = run(["bash", host, "uri", "tcp"], check_rc=0).stdout.strip()
    publish_to_pool(uri, "default", qcow2, work)


BUILD_TARGETS = """
targets:
  - platform: kvm
    publish:
      glance:
        cloud: vmforge-test
        name: "pubbuild-${version}"
        visibility: shared
        tags: [golden]
        properties: {os_distro: debian}
"""


def case_build(work):
    services_up()
    from build import GUESTFS_ENV, build_cmd, ensure_cached
    ensure_cached(work)
    src = os.path.join(ROOT, "examples", "quickstart", "recipe.yaml")
    with open(src) as f:
        text = f.read()
    text = text[:text.index("\ntargets:")] + BUILD_TARGETS
    recipe = os.path.join(ROOT, "examples", "quickstart", f".pubbuild-{os.getpid()}.yaml")
    with open(recipe, "w") as f:
        f.write(text)
    delete_images("pubbuild-1.0")
    out = os.path.join(work, "out")
    try:
        run(build_cmd(out, "--publish", "-q", "--no-sync", recipe=recipe), check_rc=0,
            env={**GUESTFS_ENV, **os_env()})
    finally:
        os.unlink(recipe)
    with open(os.path.join(out, "report.json")) as f:
        report = json.load(f)
    check(report["base_disk"]["cache"] == "hit", "the base disk was not the cached one")
    pub = report.get("published", [])
    check(len(pub) == 1 and pub[0]["destination"] == "glance:vmforge-test", f"published: {pub}")
    qcow2 = os.path.join(out, "kvm", "quickstart.qcow2")
    img = image_show(pub[0]["id"])
    check(img["name"] == "pubbuild-1.0", f"name {img['name']}")
    check_image(img, qcow2, "qcow2", "bare")
    check(img["visibility"] == "shared" and img["tags"] == ["golden"], "visibility, tags")
    with open(os.path.join(out, "kvm", "quickstart.openstack.json")) as f:
        meta = json.load(f)
    for k, v in meta["properties"].items():
        check(img["properties"].get(k) == v, f"property {k}: {img['properties'].get(k)} != {v}")
    check(img["properties"].get("os_distro") == "debian", "the recipe's property")
    check(img["min_disk"] == meta["min_disk"] and img["min_ram"] == meta["min_ram"],
          "min_disk, min_ram")
    check(img["properties"].get("vmforge_sha256") == report["artefacts"][0]["sha256"],
          "vmforge_sha256")
    # The report published again: the image is reused, nothing read or sent.
    o = Outputs()
    rec = published(o.publish(os.path.join(out, "report.json"), "--to", f"glance:{CLOUD}",
                              "--name", "pubbuild-1.0", "--only", "kvm", "--json", "-q"))
    check(rec[0]["reused"] and rec[0]["id"] == pub[0]["id"], f"republish: {rec}")
    # The image changed since the build (same size): what is sent is not
    # what the report lists, so the new image is deleted and the publish fails.
    with open(qcow2, "r+b") as f:
        f.seek(os.path.getsize(qcow2) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    p = o.publish(os.path.join(out, "report.json"), "--to", f"glance:{CLOUD}", "--only", "kvm",
                  "--force", rc=1)
    check("is not what" in p.stderr and "the file changed since the build" in p.stderr,
          p.stderr)
    left = images_named("pubbuild-1.0")
    check([i["ID"] for i in left] == [pub[0]["id"]], f"images after the refused send: {left}")
    delete_images("pubbuild-1.0")


if __name__ == "__main__":
    main({
        "glance": case_glance,
        "auth": case_auth,
        "refusals": case_refusals,
        "interrupt": case_interrupt,
        "pools": case_pools,
        "build": case_build,
    })
