#!/bin/sh
# Before the files are removed. Arguments:
#   deb prerm:  remove | upgrade <new version> | deconfigure | failed-upgrade
#   rpm %preun: 0 on erase, 1 on upgrade
# Only a removal stops and disables the service; an upgrade leaves it running
# for postinstall's try-restart.
set -e

case "$1" in
remove | 0)
	if [ -d /run/systemd/system ]; then
		systemctl stop otlpcol.service >/dev/null 2>&1 || true
	fi
	if command -v systemctl >/dev/null; then
		systemctl disable otlpcol.service >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
