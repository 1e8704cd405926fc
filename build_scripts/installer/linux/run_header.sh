#!/bin/sh
# Ponder @VERSION@ for Linux (@MACHINE@): a self-extracting installer.
#   sh @NAME@                 install for this user (menu entry, icon, ~/.local/bin/ponder)
#   sh @NAME@ --system        install for everyone (as root)
#   sh @NAME@ --prefix DIR    install under DIR
set -eu
skip=@SKIP@
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ponder-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
echo "Unpacking Ponder @VERSION@..."
tail -n +"$skip" "$0" | tar -xzf - -C "$tmp"
sh "$tmp/@TOP@/install.sh" "$@"
exit 0
