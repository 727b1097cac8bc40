#!/bin/sh
# Installed by vmforge customize: runs each first-boot script once, in name
# order, logging to /var/log/vmforge-firstboot.log. A script is moved to done/
# before it runs, so a crash or a reboot never runs it twice.
dir=/usr/lib/vmforge/firstboot
log=/var/log/vmforge-firstboot.log
mkdir -p "$dir/done"
for script in "$dir"/scripts/*; do
    [ -f "$script" ] || continue
    name=$(basename "$script")
    mv "$script" "$dir/done/$name"
    echo "$(date -Is) vmforge-firstboot: running $name" >> "$log"
    sh "$dir/done/$name" >> "$log" 2>&1
    echo "$(date -Is) vmforge-firstboot: $name exited with status $?" >> "$log"
done
