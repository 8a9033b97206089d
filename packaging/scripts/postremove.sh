#!/bin/sh
# After the files are removed. Arguments:
#   deb postrm:  remove | purge | upgrade | failed-upgrade | abort-* | disappear
#   rpm %postun: 0 on erase, 1 on upgrade
# A deb purge removes the state (queue, dead letter) and the otlpcol user:
# nothing of the package is left. rpm has no purge: an erase keeps both, as
# rpm packages do, and an edited config is saved as .rpmsave by rpm itself.
set -e

case "$1" in
purge)
	rm -rf /var/lib/otlpcol
	# dpkg has removed the conffiles; what is left are its own backups.
	rm -f /etc/otlpcol/*.dpkg-old /etc/otlpcol/*.dpkg-dist /etc/otlpcol/*.dpkg-new
	rmdir /etc/otlpcol 2>/dev/null || true
	if getent passwd otlpcol >/dev/null; then
		userdel otlpcol
	fi
	if getent group otlpcol >/dev/null; then
		groupdel otlpcol
	fi
	;;
esac

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
