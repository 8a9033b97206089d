#!/bin/sh
# After the files are in place. Arguments:
#   deb postinst: configure <previously configured version, empty on install>
#   rpm %post:    1 on install, 2 or more on upgrade
# An install never starts the service: its env file still holds a placeholder
# endpoint. An upgrade restarts it only if it was running.
set -e

upgrade=false
case "$1" in
configure) [ -z "$2" ] || upgrade=true ;;
1) ;;
[0-9]*) upgrade=true ;;
*) exit 0 ;;
esac

# The state directory, for runs outside systemd too (systemd's StateDirectory
# would create it on start with the same owner and mode).
install -d -o otlpcol -g otlpcol -m 0750 /var/lib/otlpcol

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	if [ "$upgrade" = true ]; then
		systemctl try-restart otlpcol.service >/dev/null 2>&1 || true
	fi
fi

if [ "$upgrade" = false ]; then
	echo "otlpcol installed, not started: set OTLP_ENDPOINT and API_KEY in /etc/otlpcol/otlpcol.env, then run: systemctl enable --now otlpcol"
fi
exit 0
