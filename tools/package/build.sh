#!/usr/bin/env bash
# Builds lb_<version>_<arch>.deb with dpkg-deb from a built tree:
#
#   tools/package/build.sh [BUILD_DIR]     (default: build; writes BUILD_DIR/package/)
#
# The layout is `cmake --install BUILD_DIR --prefix /usr` (lb, /etc/lb/lb.yaml
# as a conffile, the systemd unit, the logrotate snippet, the docs) plus a man
# page made from the README's command-line section. The binary is stripped.
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-$src/build}" && pwd)"
version="$(sed -n 's/^project(lb VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")"
arch="$(dpkg --print-architecture)"
out="$build/package"
stage="$out/lb_${version}_${arch}"
rm -rf "$stage" && mkdir -p "$stage/DEBIAN"

DESTDIR="$stage" cmake --install "$build" --prefix /usr >/dev/null
strip --strip-unneeded "$stage/usr/bin/lb"
mkdir -p "$stage/usr/share/man/man1"
python3 "$src/tools/package/readme2man.py" "$src/README.md" "$version" | gzip -9n > "$stage/usr/share/man/man1/lb.1.gz"
find "$stage/usr/share/doc/lb" -name "*.md" -exec gzip -9n {} +
cat > "$stage/usr/share/doc/lb/copyright" <<'COPY'
lb: see the project's repository for license terms.
COPY

# Shared-library dependencies with the minimum versions the libraries'
# symbols files give (dpkg-shlibdeps, from dpkg-dev), not the versions that
# happen to be on the build machine.
shl="$out/shlibdeps"
rm -rf "$shl" && mkdir -p "$shl/debian"
printf 'Source: lb\n\nPackage: lb\nArchitecture: any\n' > "$shl/debian/control"
deps=$(cd "$shl" && dpkg-shlibdeps -O "$stage/usr/bin/lb" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$deps" ] || { echo "package: dpkg-shlibdeps found no dependencies (apt-get install dpkg-dev)" >&2; exit 1; }
installed_kb=$(du -sk "$stage" --exclude=DEBIAN | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: lb
Version: $version
Architecture: $arch
Maintainer: lb developers <lb@localhost>
Installed-Size: $installed_kb
Depends: ${deps}
Section: net
Priority: optional
Description: Layer-4/7 load balancer
 HTTP/1.1 and TCP proxying with YAML-described upstream pools, health checks,
 graceful reloads and drains, and Prometheus metrics. Runs as a systemd
 service (Type=notify, DynamicUser) with its config in /etc/lb/lb.yaml.
CONTROL
# dpkg keeps a locally edited config across upgrades and asks before replacing it.
(cd "$stage" && find etc -type f | sed 's#^#/#') > "$stage/DEBIAN/conffiles"
cat > "$stage/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
# Enabled and started on install (Debian's convention), when systemd runs.
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null || true
  systemctl enable lb.service >/dev/null || true
  systemctl restart lb.service || true
fi
POSTINST
cat > "$stage/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
  systemctl stop lb.service >/dev/null || true
fi
PRERM
cat > "$stage/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null || true; fi
POSTRM
chmod 755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/prerm" "$stage/DEBIAN/postrm"
deb="$out/lb_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$stage" "$deb" >/dev/null
echo "$deb"
