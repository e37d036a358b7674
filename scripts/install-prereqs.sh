#!/bin/bash
# Installs, from Debian's archive, the real programs the lab tests run on lab hosts.
# Idempotent: does nothing when every program is already there. Needs root.
# Services are never started by the packages (policy-rc.d); lab hosts start their own.
set -eu
need=()
check() { command -v "$1" >/dev/null 2>&1 || need+=("$2"); }
check sshd openssh-server
check ssh openssh-client
check h2o h2o
check openssl openssl
check curl curl
check ovs-vsctl openvswitch-switch
check libvirtd libvirt-daemon
check virsh libvirt-clients
check lxd lxd
check lxc lxd-client
check busybox busybox-static
check dhclient-script isc-dhcp-client
check tcpdump tcpdump
check dnsmasq dnsmasq-base
check unbound unbound
check dig dnsutils
check crudini crudini
check saslpasswd2 sasl2-bin
check certtool gnutls-bin
check ip iproute2
check killall psmisc
check mksquashfs squashfs-tools
check setfattr attr
check unshare util-linux
# LXD's default network (lxd init --auto makes lxdbr0) needs a firewall tool
check iptables iptables
[ -e /usr/lib/x86_64-linux-gnu/sasl2/libdigestmd5.so ] || need+=(libsasl2-modules)
[ -e /usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so ] || need+=(libvirt-daemon-driver-qemu)
if [ ${#need[@]} -eq 0 ]; then echo "lab prerequisites: all present"; exit 0; fi
if [ "$(id -u)" -ne 0 ]; then echo "lab prerequisites missing (${need[*]}) and not root: cannot install" >&2; exit 1; fi
echo "lab prerequisites: installing ${need[*]}"
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"; created_policy=1; fi
trap '[ "$created_policy" -eq 0 ] || rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${need[@]}" >/dev/null
echo "lab prerequisites: installed"
