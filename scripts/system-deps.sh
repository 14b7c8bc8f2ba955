#!/usr/bin/env bash
# Debian packages the suite needs: espeak-ng, flite, festival with ten festvox
# voices, ktuberling's recorded words and three sets of recorded Asterisk prompts (speech corpus), ffmpeg (musdb
# reads audio through it), fluidsynth + a General MIDI soundfont (music corpus),
# lincity-ng-data's recorded city ambience (the noisy corpus's `ambient` noise kind,
# separation/data/recorded_noise.py; 45 MB), a C compiler (PyPI has no wheel of
# `pesq`, the PESQ metric; pip builds it).
# Installs them when run as root; otherwise prints the exact command and fails.
# Never add Debian's asterisk-core-sounds-* packages: their speakers are the suite's
# held-out real-voice evaluation. --no-install-recommends keeps them out (the prompt
# packages only recommend asterisk itself).
set -euo pipefail
voices=(flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
        festvox-italp16k festvox-itapc16k festvox-ca-ona-hts festvox-czech-dita festvox-czech-machac
        festvox-suopuhe-lj festvox-suopuhe-mv ktuberling-data)
prompts=(asterisk-prompt-es-co asterisk-prompt-fr-armelle asterisk-prompt-it-menardi-wav)
noises=(lincity-ng-data)
packages=(espeak-ng ffmpeg fluidsynth fluid-soundfont-gm gcc libc6-dev "${voices[@]}" "${prompts[@]}" "${noises[@]}")
missing=()
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
command -v fluidsynth >/dev/null || missing+=(fluidsynth)
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || missing+=(fluid-soundfont-gm)
command -v cc >/dev/null || missing+=(gcc libc6-dev)
for package in "${voices[@]}" "${prompts[@]}" "${noises[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages: ${missing[*]}; install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${packages[*]}" >&2
    exit 1
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
if dpkg-query -W -f='${Package} ${Status}\n' 'asterisk-core-sounds-*' 2>/dev/null | grep -q "install ok installed"; then
    echo "warning: an asterisk-core-sounds package is installed; the suite never reads it" >&2
fi
