#!/bin/sh
# Ponder for macOS: the .app bundle and a drag-to-Applications .dmg.
#
# Not built on the Linux build machine (PyInstaller builds for the OS it runs on; hdiutil is macOS's). On a Mac:
#   python3.11 -m venv .venv && .venv/bin/pip install -c constraints.txt -e '.[gui,build]'
#   sh build_scripts/installer/macos/make_dmg.sh [--model DIR]
#   -> dist/Ponder.app (both programs in Contents/MacOS: ponder, ponder-engine) and dist/Ponder-<version>-macos-<arch>.dmg
# The app is unsigned: set CODESIGN_IDENTITY (a "Developer ID Application: ..." identity) to sign it, and
# NOTARY_PROFILE (an `xcrun notarytool store-credentials` profile) to notarize and staple the dmg.
# On Apple silicon torch uses MPS when the planner picks it; the bundle carries no CUDA.
set -eu

root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
python=${PYTHON:-.venv/bin/python}
"$python" build_scripts/build.py --no-smoke-test "$@"

version=$("$python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
app="dist/Ponder.app"
dmg="dist/Ponder-$version-macos-$(uname -m).dmg"
[ -d "$app" ] || { echo "make_dmg.sh: $app was not built" >&2; exit 1; }

if [ -n "${CODESIGN_IDENTITY:-}" ]; then
    # sign the libraries inside out, then the two programs, then the app (hardened runtime for notarization)
    find "$app/Contents" -type f \( -name '*.so' -o -name '*.dylib' \) -exec \
        codesign --force --timestamp --options runtime --sign "$CODESIGN_IDENTITY" {} +
    codesign --force --timestamp --options runtime --sign "$CODESIGN_IDENTITY" \
        "$app/Contents/MacOS/ponder-engine" "$app/Contents/MacOS/ponder"
    codesign --force --timestamp --options runtime --sign "$CODESIGN_IDENTITY" "$app"
    codesign --verify --deep --strict "$app"
fi

staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
cp -R "$app" "$staging/"
ln -s /Applications "$staging/Applications"
rm -f "$dmg"
hdiutil create -volname "Ponder $version" -srcfolder "$staging" -fs HFS+ -format UDZO -imagekey zlib-level=9 "$dmg"

if [ -n "${NOTARY_PROFILE:-}" ]; then
    xcrun notarytool submit "$dmg" --keychain-profile "$NOTARY_PROFILE" --wait
    xcrun stapler staple "$dmg"
fi
echo "built $dmg"
# Smoke test on the Mac (offscreen Qt, the window answers one question and closes):
#   QT_QPA_PLATFORM=offscreen "$app/Contents/MacOS/ponder" --self-test
