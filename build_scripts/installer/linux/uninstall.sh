#!/bin/sh
# Remove Ponder: the install folder (this script's), its menu entry, icons and command.
# Chats and settings stay (~/.local/share/ponder, ~/.config/Ponder); delete those by hand to remove them too.
set -eu
app_dir=$(cd "$(dirname "$0")" && pwd)
if [ ! -x "$app_dir/ponder-engine" ]; then
    echo "uninstall.sh: $app_dir does not look like a Ponder install folder" >&2
    exit 1
fi
if [ -f "$app_dir/installed-files.txt" ]; then
    while IFS= read -r file; do
        [ -n "$file" ] && rm -f "$file"
    done < "$app_dir/installed-files.txt"
fi
rm -rf "$app_dir"
echo "Ponder is uninstalled (your chats are kept in ~/.local/share/ponder)."
