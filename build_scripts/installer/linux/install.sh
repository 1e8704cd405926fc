#!/bin/sh
# Install Ponder for this user (default) or for everyone (--system, as root).
#
#   ./install.sh                  # ~/.local/opt/ponder, menu entry and icon in ~/.local/share, ~/.local/bin/ponder
#   sudo ./install.sh --system    # /opt/ponder, /usr/local/share/applications, /usr/local/bin/ponder
#   ./install.sh --prefix DIR     # DIR/opt/ponder, DIR/share/..., DIR/bin/ponder
#
# Uninstall: the uninstall.sh this copies into the install folder.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
mode=user
prefix=""
while [ $# -gt 0 ]; do
    case "$1" in
        --system) mode=system ;;
        --prefix) prefix="$2"; shift ;;
        --prefix=*) prefix="${1#--prefix=}" ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

if [ -n "$prefix" ]; then
    app_dir="$prefix/opt/ponder"; bin_dir="$prefix/bin"; data_dir="$prefix/share"
elif [ "$mode" = system ]; then
    app_dir=/opt/ponder; bin_dir=/usr/local/bin; data_dir=/usr/local/share
else
    app_dir="$HOME/.local/opt/ponder"; bin_dir="$HOME/.local/bin"; data_dir="${XDG_DATA_HOME:-$HOME/.local/share}"
fi

if [ ! -x "$here/ponder/ponder" ] || [ ! -x "$here/ponder/ponder-engine" ]; then
    echo "install.sh: $here/ponder/ is not a complete Ponder bundle" >&2
    exit 1
fi

echo "Installing Ponder into $app_dir"
if [ -e "$app_dir" ]; then
    rm -rf "$app_dir.old"
    mv "$app_dir" "$app_dir.old"   # an earlier version: replaced whole, removed once the copy is done
fi
mkdir -p "$(dirname "$app_dir")" "$bin_dir" "$data_dir/applications" \
         "$data_dir/icons/hicolor/256x256/apps" "$data_dir/icons/hicolor/scalable/apps"
cp -R "$here/ponder" "$app_dir"
chmod -R u+rwX,go+rX,go-w "$app_dir"   # readable by every user (a --system install runs as someone else)
rm -rf "$app_dir.old"
cp "$here/uninstall.sh" "$app_dir/uninstall.sh"
chmod +x "$app_dir/uninstall.sh"

cp "$here/ponder.png" "$data_dir/icons/hicolor/256x256/apps/ponder.png"
cp "$here/ponder.svg" "$data_dir/icons/hicolor/scalable/apps/ponder.svg"
sed "s|@APP_DIR@|$app_dir|g" "$here/ponder.desktop" > "$data_dir/applications/ponder.desktop"
chmod 644 "$data_dir/applications/ponder.desktop"
ln -sf "$app_dir/ponder" "$bin_dir/ponder"
# what uninstall.sh removes besides the install folder
printf '%s\n' "$data_dir/applications/ponder.desktop" "$data_dir/icons/hicolor/256x256/apps/ponder.png" \
    "$data_dir/icons/hicolor/scalable/apps/ponder.svg" "$bin_dir/ponder" > "$app_dir/installed-files.txt"

command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$data_dir/applications" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$data_dir/icons/hicolor" || true

echo "Ponder is installed: open it from the applications menu, or run $bin_dir/ponder"
case ":$PATH:" in *":$bin_dir:"*) ;; *) echo "(add $bin_dir to PATH to run 'ponder' from a terminal)" ;; esac
