#!/bin/bash
# test-host.sh start|stop|status|kill|uri [ssh|tcp]
#
# A second libvirt host on this machine for the remote tests: a libvirtd in a
# mount namespace of its own (private /run/libvirt, /var/lib/libvirt,
# /var/log/libvirt, /var/cache/libvirt, a copy of /etc/libvirt), so that it
# shares no socket, pool, image or path with the machine's libvirtd or with
# vmforge, as a host across a network would. It listens on a loopback
# address only:
#   qemu+tcp://ADDR/system                    (auth_tcp = none)
#   qemu+ssh://root@ADDR/system?command=SSH   (an sshd of its own, a key made here;
#                                              SSH runs ssh with this host's config)
# It has one storage pool, "default" (its images folder), and no network:
# guests use QEMU user-mode networking.
#
#   start   starts it (nothing when it runs); prints nothing but errors
#   stop    destroys its domains, stops its daemons by their PIDs
#   kill    kills its sshd and libvirtd at once (the tests' host failure);
#           `start` brings them back with the same state
#   small-pool NAME SIZE   a pool NAME on a tmpfs of SIZE (a host whose pool is full)
#   remove-pool NAME       removes it
#   status  exit 0 when it answers
#   uri     the URI of a transport (ssh, the default, or tcp)
#
# Environment: VMFORGE_TEST_HOST_NUMBER (default 1), VMFORGE_TEST_HOST_ADDR
# (default 127.0.0.2 for host 1), VMFORGE_TEST_HOST_DIR (default .cache/test-host), VMFORGE_TEST_HOST_POOL_SIZE
# (a size for the pool's folder, a tmpfs of that size; default: no limit).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
self=$root/scripts/test-host.sh
# Host N (VMFORGE_TEST_HOST_NUMBER, 1 to 9; the fleet tests use three) is
# 127.0.0.(N+1) with its files in .cache/test-host (1) or .cache/test-host-N.
n=${VMFORGE_TEST_HOST_NUMBER:-1}
case "$n" in [1-9]) ;; *) echo "VMFORGE_TEST_HOST_NUMBER=$n: expected 1 to 9" >&2; exit 2 ;; esac
suffix=; [ "$n" = 1 ] || suffix=-$n
addr=${VMFORGE_TEST_HOST_ADDR:-127.0.0.$((n + 1))}
dir=${VMFORGE_TEST_HOST_DIR:-$root/.cache/test-host$suffix}
ssh_wrapper=$dir/ssh

uri() {
    case "${1:-ssh}" in
    tcp) echo "qemu+tcp://$addr/system" ;;
    *) echo "qemu+ssh://root@$addr/system?command=$ssh_wrapper" ;;
    esac
}

answers() {
    timeout 10 virsh -c "$(uri tcp)" version >/dev/null 2>&1
}

pid_alive() {
    [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

# Keys and configuration, made once.
prepare() {
    mkdir -p "$dir"/{etc,log,run,cache} "$dir"/lib/{images,runs}
    chmod 700 "$dir"
    [ -f "$dir/client_key" ] || ssh-keygen -q -t ed25519 -N '' -C vmforge-test -f "$dir/client_key"
    [ -f "$dir/host_key" ] || ssh-keygen -q -t ed25519 -N '' -C vmforge-test-host -f "$dir/host_key"
    cp "$dir/client_key.pub" "$dir/authorized_keys"
    echo "$addr $(cat "$dir/host_key.pub")" > "$dir/known_hosts"
    cat > "$dir/sshd_config" <<EOF
ListenAddress $addr
Port 22
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
EOF
    cat > "$dir/ssh_config" <<EOF
Host $addr
    User root
    IdentityFile $dir/client_key
    IdentitiesOnly yes
    UserKnownHostsFile $dir/known_hosts
    StrictHostKeyChecking yes
    BatchMode yes
    ConnectTimeout 10
EOF
    printf '#!/bin/sh\nexec ssh -F %s "$@"\n' "$dir/ssh_config" > "$ssh_wrapper"
    chmod 755 "$ssh_wrapper"
    # libvirt's configuration, without the machine's domains, pools and
    # networks.
    if [ ! -f "$dir/etc/libvirtd.conf" ]; then
        cp /etc/libvirt/*.conf "$dir/etc/"
        cat >> "$dir/etc/libvirtd.conf" <<EOF

# vmforge test host
listen_tls = 0
listen_tcp = 1
listen_addr = "$addr"
auth_tcp = "none"
EOF
    fi
}

# Runs inside the namespace: its mounts, its daemons, then it holds the
# namespace for as long as the host lives. Every path a daemon writes is the
# namespace's own (their PID files too: /run is the machine's).
inner() {
    echo $$ > "$dir/inner.pid"
    mount --make-rprivate / 2>/dev/null
    mount -t tmpfs -o mode=755 tmpfs /run/libvirt
    mount --bind "$dir/etc" /etc/libvirt
    mount --bind "$dir/lib" /var/lib/libvirt
    mkdir -p /var/lib/libvirt/images /var/lib/libvirt/runs /var/lib/libvirt/qemu \
        /var/lib/libvirt/dnsmasq
    if [ -n "${VMFORGE_TEST_HOST_POOL_SIZE:-}" ]; then
        mount -t tmpfs -o "size=$VMFORGE_TEST_HOST_POOL_SIZE,mode=711" tmpfs /var/lib/libvirt/images
    fi
    mount --bind "$dir/log" /var/log/libvirt
    mount --bind "$dir/cache" /var/cache/libvirt
    mkdir -p /run/sshd
    daemons
    # Reaps its daemons when they die (`kill`); lives until `stop`.
    while :; do
        wait
        sleep 5
    done
}

# The daemons that do not run (inside the namespace), in the background: a
# libvirtd killed by `kill` comes back beside the QEMU it left running.
daemons() {
    if ! pid_alive "$dir/virtlogd.pid"; then
        virtlogd --pid-file "$dir/run/virtlogd.daemon.pid" >> "$dir/virtlogd.out" 2>&1 &
        echo $! > "$dir/virtlogd.pid"
    fi
    if ! pid_alive "$dir/libvirtd.pid"; then
        libvirtd --listen --pid-file "$dir/run/libvirtd.daemon.pid" >> "$dir/libvirtd.out" 2>&1 &
        echo $! > "$dir/libvirtd.pid"
    fi
    if ! pid_alive "$dir/sshd.pid"; then
        /usr/sbin/sshd -D -f "$dir/sshd_config" -E "$dir/sshd.log" > /dev/null 2>&1 &
        echo $! > "$dir/sshd.pid"
    fi
}

start() {
    if answers && pid_alive "$dir/sshd.pid"; then
        return 0
    fi
    prepare
    if pid_alive "$dir/inner.pid"; then
        nsenter -t "$(cat "$dir/inner.pid")" -m bash "$self" daemons < /dev/null
    else
        stop_daemons
        setsid unshare -m --propagation private bash "$self" inner > "$dir/inner.out" 2>&1 < /dev/null &
    fi
    for _ in $(seq 1 150); do
        answers && break
        sleep 0.2
    done
    if ! answers; then
        echo "test-host: libvirtd on $addr does not answer; see $dir/libvirtd.out" >&2
        return 1
    fi
    # The one pool, on the namespace's images folder.
    local c
    c=$(uri tcp)
    if ! virsh -c "$c" pool-info default >/dev/null 2>&1; then
        virsh -q -c "$c" pool-define-as default dir --target /var/lib/libvirt/images >/dev/null &&
            virsh -q -c "$c" pool-start default >/dev/null &&
            virsh -q -c "$c" pool-autostart default >/dev/null || return 1
    elif ! virsh -c "$c" pool-info default | grep -q running; then
        virsh -q -c "$c" pool-start default >/dev/null || return 1
    fi
    for _ in $(seq 1 50); do
        "$ssh_wrapper" "$addr" true 2>/dev/null && return 0
        sleep 0.2
    done
    echo "test-host: sshd on $addr does not let root in; see $dir/sshd.log" >&2
    return 1
}

stop_daemons() {
    for p in sshd libvirtd virtlogd inner; do
        if pid_alive "$dir/$p.pid"; then
            kill "$(cat "$dir/$p.pid")" 2>/dev/null
        fi
    done
    for p in sshd libvirtd virtlogd inner; do
        for _ in $(seq 1 50); do
            pid_alive "$dir/$p.pid" || break
            sleep 0.1
        done
        rm -f "$dir/$p.pid"
    done
}

stop() {
    if answers; then
        local c d
        c=$(uri tcp)
        for d in $(virsh -c "$c" list --name 2>/dev/null); do
            virsh -q -c "$c" destroy "$d" >/dev/null 2>&1
        done
    fi
    stop_daemons
}

# A pool on a tmpfs of its own inside the namespace: a full host pool.
small_pool() {
    local c pid
    c=$(uri tcp)
    pid=$(cat "$dir/inner.pid")
    nsenter -t "$pid" -m sh -c "mkdir -p /var/lib/libvirt/$1 && mount -t tmpfs -o size=$2 tmpfs /var/lib/libvirt/$1" &&
        virsh -q -c "$c" pool-create-as "$1" dir --target "/var/lib/libvirt/$1" >/dev/null
}

remove_pool() {
    local pid
    pid=$(cat "$dir/inner.pid")
    virsh -q -c "$(uri tcp)" pool-destroy "$1" >/dev/null 2>&1
    nsenter -t "$pid" -m sh -c "umount /var/lib/libvirt/$1; rmdir /var/lib/libvirt/$1"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
kill)
    for p in sshd libvirtd; do
        pid_alive "$dir/$p.pid" && kill -9 "$(cat "$dir/$p.pid")"
    done
    ;;
status) answers ;;
small-pool) small_pool "$2" "$3" ;;
remove-pool) remove_pool "$2" ;;
uri) uri "${2:-ssh}" ;;
inner) inner ;;
daemons) daemons ;;
*)
    echo "usage: $0 start|stop|kill|status|uri [ssh|tcp]" >&2
    exit 2
    ;;
esac
