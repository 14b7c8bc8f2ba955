#!/usr/bin/env bash
# Debian packages the suite needs: espeak-ng (speech corpus), ffmpeg (musdb reads
# audio through it), fluidsynth + a General MIDI soundfont (music corpus), a C
# compiler (PyPI has no wheel of `pesq`, the PESQ metric; pip builds it).
# Installs them when run as root; otherwise prints the exact command and fails.
set -euo pipefail
packages=(espeak-ng ffmpeg fluidsynth fluid-soundfont-gm gcc libc6-dev)
missing=()
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
command -v fluidsynth >/dev/null || missing+=(fluidsynth)
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || missing+=(fluid-soundfont-gm)
command -v cc >/dev/null || missing+=(gcc libc6-dev)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages: ${missing[*]}; install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${packages[*]}" >&2
    exit 1
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
