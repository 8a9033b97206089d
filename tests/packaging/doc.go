// Package packaging tests what `make package` produces with the tools a host
// operator has: dpkg-deb, lintian and rpm inspect the packages, then the
// amd64 .deb is installed on this machine for real, its unit is checked by
// systemd-analyze, its ExecStart runs as the service user against a loopback
// backend, an upgrade keeps an edited conffile, and a purge leaves nothing.
//
// It changes the machine (a package, a system user, /etc/otlpcol), so it
// runs only under `make test-package` (OTLPCOL_PACKAGE_TEST=1), as root on
// Debian, and restores the machine in t.Cleanup even when it fails.
package packaging
