#!/bin/bash
# openstack-services.sh install|start|stop|restart-glance|status [DIR] — a real Keystone (under
# uwsgi) and a real glance-api from Debian's archive, on 127.0.0.1 only, for
# the publish tests and benchmark. Everything lives in DIR (default
# .cache/openstack): sqlite databases, fernet keys, Glance's file store and
# staging folder, logs, PID files, and a clouds.yaml for the `openstack`
# client and vmforge with two clouds:
#   vmforge-test        user "publisher" (role member) in project "images"
#   vmforge-test-admin  the bootstrap admin
# Keystone also answers with TLS on KEYSTONE_TLS_PORT, with a certificate for
# 127.0.0.1 from a CA made here (DIR/tls/ca.pem), for clients' cacert/verify.
# Started once, reused while its PIDs live; stopped by PID (never by name).
#   KEYSTONE_PORT (5000), KEYSTONE_TLS_PORT (5443), GLANCE_PORT (9292): where
#   they listen on 127.0.0.1.
# The passwords are made here (random) and written only into DIR (0600).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
cmd=${1:-start}
DIR=$(realpath -m "${2:-.cache/openstack}")
ADDR=127.0.0.1
KPORT=${KEYSTONE_PORT:-5000}
TPORT=${KEYSTONE_TLS_PORT:-5443}
GPORT=${GLANCE_PORT:-9292}
KURL="http://$ADDR:$KPORT/v3"
GURL="http://$ADDR:$GPORT"
PY=/usr/bin/python3

PACKAGES=(keystone uwsgi-core uwsgi-plugin-python3 glance-api python3-openstackclient openssl curl)

install_packages() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "openstack-services: installing ${missing[*]}"
    # Their postinst would start keystone and glance on every address: forbid it.
    local policy=/usr/sbin/policy-rc.d own=no
    if [ ! -e $policy ]; then
        printf '#!/bin/sh\nexit 101\n' >$policy
        chmod 755 $policy
        own=yes
    fi
    apt-get update -q >/dev/null || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" ||
        { [ $own = yes ] && rm -f $policy; return 1; }
    [ $own = yes ] && rm -f $policy
    return 0
}

alive() { # alive NAME: its PID file names a live process
    local f="$DIR/$1.pid"
    [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

wait_http() { # wait_http URL SECONDS PIDNAME
    local i
    for ((i = 0; i < $2 * 4; i++)); do
        curl -s -o /dev/null -m 2 "$1" && return 0
        alive "$3" || { echo "openstack-services: $3 died; see $DIR/$3.log" >&2; return 1; }
        sleep 0.25
    done
    echo "openstack-services: $1 did not answer in $2 s; see $DIR/$3.log" >&2
    return 1
}

stop_one() { # stop_one NAME
    local f="$DIR/$1.pid" pid i
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 40; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "$f"
}

port_free() { # port_free PORT: nothing listens on ADDR:PORT (else a service
    # answering there would pass for ours, and glance-api would share it)
    if ss -Hltn "sport = :$1" | grep -q .; then
        echo "openstack-services: 127.0.0.1:$1 is taken by another process; set" \
            "KEYSTONE_PORT/GLANCE_PORT or stop it" >&2
        return 1
    fi
}

keystone_conf() {
    cat >"$DIR/keystone/keystone.conf" <<EOF
[DEFAULT]
log_file = $DIR/keystone-app.log
[database]
connection = sqlite:///$DIR/keystone/keystone.db?check_same_thread=false
[token]
provider = fernet
[fernet_tokens]
key_repository = $DIR/keystone/fernet-keys
[fernet_receipts]
key_repository = $DIR/keystone/fernet-keys
[credential]
key_repository = $DIR/keystone/credential-keys
[cache]
enabled = true
backend = oslo_cache.dict
[identity]
password_hash_rounds = 4
EOF
}

glance_conf() {
    cp /usr/share/glance-common/glance-api-paste.ini "$DIR/glance/glance-api-paste.ini"
    cat >"$DIR/glance/glance-api.conf" <<EOF
[DEFAULT]
bind_host = $ADDR
bind_port = $GPORT
workers = 0
log_file = $DIR/glance-app.log
node_staging_uri = file://$DIR/glance/staging/
image_cache_dir = $DIR/glance/image-cache
enabled_import_methods = [glance-direct]
[database]
connection = sqlite:///$DIR/glance/glance.db
[glance_store]
stores = file
default_store = file
filesystem_store_datadir = $DIR/glance/images/
[keystone_authtoken]
www_authenticate_uri = http://$ADDR:$KPORT
auth_url = http://$ADDR:$KPORT
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = glance
password = $(cat "$DIR/glance.pw")
[paste_deploy]
flavor = keystone
config_file = $DIR/glance/glance-api-paste.ini
[oslo_concurrency]
lock_path = $DIR/glance/lock
[task]
work_dir = $DIR/glance/work
EOF
}

clouds_yaml() {
    umask 077
    cat >"$DIR/clouds.yaml" <<EOF
clouds:
  vmforge-test:
    auth:
      auth_url: $KURL
      username: publisher
      password: $(cat "$DIR/publisher.pw")
      project_name: images
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: public
    identity_api_version: 3
  vmforge-test-admin:
    auth:
      auth_url: $KURL
      username: admin
      password: $(cat "$DIR/admin.pw")
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    identity_api_version: 3
EOF
}

make_tls() { # a CA and Keystone's certificate for 127.0.0.1, signed by it
    local t="$DIR/tls"
    mkdir -p "$t"
    (umask 077
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=vmforge test CA" \
            -keyout "$t/ca.key" -out "$t/ca.pem"
        openssl req -newkey rsa:2048 -nodes -subj "/CN=$ADDR" -keyout "$t/key.pem" \
            -out "$t/req.csr"
        printf 'subjectAltName=IP:%s\n' "$ADDR" >"$t/ext.cnf"
        openssl x509 -req -days 3650 -in "$t/req.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" \
            -CAcreateserial -extfile "$t/ext.cnf" -out "$t/cert.pem") 2>>"$DIR/tls.log"
    chmod 644 "$t/ca.pem"
}

start_keystone() {
    OS_KEYSTONE_CONFIG_DIR="$DIR/keystone" OS_KEYSTONE_CONFIG_FILES=keystone.conf \
        setsid uwsgi --http-socket "$ADDR:$KPORT" \
        --https-socket "$ADDR:$TPORT,$DIR/tls/cert.pem,$DIR/tls/key.pem" --plugin python3 \
        --wsgi-file /usr/bin/keystone-wsgi-public --master --processes 1 --threads 4 \
        --die-on-term --need-app --add-header "Connection: close" \
        >>"$DIR/keystone.log" 2>&1 </dev/null 9>&- &
    echo $! >"$DIR/keystone.pid"
}

start_glance() {
    setsid glance-api --config-file "$DIR/glance/glance-api.conf" \
        >>"$DIR/glance.log" 2>&1 </dev/null 9>&- &
    echo $! >"$DIR/glance.pid"
}

first_setup() { # databases, keys, the catalog, users: once per DIR
    local km=(keystone-manage --config-file "$DIR/keystone/keystone.conf")
    mkdir -p "$DIR"/keystone/{fernet-keys,credential-keys} \
        "$DIR"/glance/{images,staging,image-cache,lock,work}
    chmod 700 "$DIR"
    (umask 077
        for u in admin glance publisher; do
            [ -s "$DIR/$u.pw" ] || head -c 18 /dev/urandom | base64 | tr '/+' '_-' >"$DIR/$u.pw"
        done)
    keystone_conf
    make_tls
    exec 3>>"$DIR/keystone-manage.log"
    "${km[@]}" db_sync 2>&3
    $PY -c "import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute('PRAGMA journal_mode=WAL')" \
        "$DIR/keystone/keystone.db"
    "${km[@]}" fernet_setup --keystone-user root --keystone-group root 2>&3
    "${km[@]}" credential_setup --keystone-user root --keystone-group root 2>&3
    "${km[@]}" bootstrap --bootstrap-password "$(cat "$DIR/admin.pw")" \
        --bootstrap-admin-url "$KURL/" --bootstrap-internal-url "$KURL/" \
        --bootstrap-public-url "$KURL/" --bootstrap-region-id RegionOne 2>&3
    exec 3>&-
    clouds_yaml
    glance_conf
    glance-manage --config-file "$DIR/glance/glance-api.conf" db_sync >"$DIR/glance-manage.log" 2>&1
}

catalog() { # the image service, its endpoints, the users (needs Keystone up)
    local os=(env OS_CLIENT_CONFIG_FILE="$DIR/clouds.yaml" $PY /usr/bin/openstack --os-cloud vmforge-test-admin)
    "${os[@]}" project create --or-show service >/dev/null
    "${os[@]}" project create --or-show images >/dev/null
    "${os[@]}" user create --or-show --password "$(cat "$DIR/glance.pw")" glance >/dev/null
    "${os[@]}" user create --or-show --password "$(cat "$DIR/publisher.pw")" publisher >/dev/null
    "${os[@]}" role create --or-show member >/dev/null
    "${os[@]}" role add --project service --user glance admin
    "${os[@]}" role add --project images --user publisher member
    "${os[@]}" service create --name glance image >/dev/null
    local i
    for i in public internal admin; do
        "${os[@]}" endpoint create --region RegionOne image "$i" "$GURL" >/dev/null
    done
    touch "$DIR/catalog.done"
}

start() {
    install_packages
    # One start at a time (scripts/test.sh starts them in the background
    # while the first test may ask too); a start that finds them running
    # still waits until both answer.
    mkdir -p "$(dirname "$DIR")"
    exec 9>"$DIR.lock"
    flock 9
    if alive keystone && alive glance; then
        wait_http "$KURL" 120 keystone && wait_http "$GURL/versions" 120 glance || return 1
        echo "openstack-services: running (Keystone $KURL, Glance $GURL; clouds: $DIR/clouds.yaml)"
        return 0
    fi
    stop_one keystone
    stop_one glance
    port_free "$KPORT" && port_free "$TPORT" && port_free "$GPORT" || return 1
    [ -f "$DIR/glance/glance-api.conf" ] || first_setup
    start_keystone
    wait_http "$KURL" 120 keystone
    [ -f "$DIR/catalog.done" ] || catalog
    start_glance
    wait_http "$GURL/versions" 120 glance
    echo "openstack-services: started (Keystone $KURL, Glance $GURL; clouds: $DIR/clouds.yaml)"
}

case "$cmd" in
install) install_packages ;;
start) start ;;
stop)
    stop_one glance
    stop_one keystone
    ;;
restart-glance) # the tests' "glance-api is back"
    stop_one glance
    port_free "$GPORT" || exit 1
    start_glance
    wait_http "$GURL/versions" 120 glance
    ;;
status)
    alive keystone && alive glance && echo "running" && exit 0
    echo "stopped"
    exit 3
    ;;
*)
    echo "usage: $0 install|start|stop|restart-glance|status [DIR]" >&2
    exit 2
    ;;
esac
