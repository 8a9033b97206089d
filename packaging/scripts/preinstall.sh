#!/bin/sh
# Before the files are unpacked (deb preinst, rpm %pre): the otlpcol system
# user and group must exist, because the env file is group-owned by them.
set -e

if ! getent group otlpcol >/dev/null; then
	groupadd --system otlpcol
fi
if ! getent passwd otlpcol >/dev/null; then
	useradd --system --gid otlpcol --home-dir /var/lib/otlpcol --no-create-home \
		--shell /usr/sbin/nologin --comment "otlpcol collector" otlpcol
fi
exit 0
