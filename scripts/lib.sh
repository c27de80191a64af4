# Shared by scripts/: logging and installing what is missing.
# shellcheck shell=bash

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "error: $*" >&2; exit 1; }

SIM_LIB=/usr/lib/x86_64-linux-gnu/umad2sim/libumad2sim.so

# Debian packages the tests and the demo need, with a binary that proves each is there.
APT_PACKAGES=(
    "ibsim-utils:$SIM_LIB"
    "opensm:/usr/sbin/opensm"
    "infiniband-diags:/usr/sbin/saquery"
    "ibacm:/usr/bin/ib_acme"
    "libibumad-dev:/usr/include/infiniband/umad.h"
    "tshark:/usr/bin/tshark"
    "qemu-system-arm:/usr/bin/qemu-system-arm"
    "qemu-system-x86:/usr/bin/qemu-system-x86_64"
    "binutils-arm-none-eabi:/usr/bin/arm-none-eabi-size"
    "busybox-static:/bin/busybox"
    "cpio:/usr/bin/cpio"
    "xxd:/usr/bin/xxd"
    "iproute2:/usr/bin/rdma"
)

# Installs missing Debian packages (one apt-get update, only when something is missing).
ensure_apt() {
    local missing=()
    for entry in "${APT_PACKAGES[@]}"; do
        [ -e "${entry#*:}" ] || missing+=("${entry%%:*}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    step "installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -q
    # Some images carry a backported qemu-utils that conflicts with Debian's qemu-system-*;
    # if the plain install fails, pin qemu-utils to the distribution's version alongside.
    if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"; then
        local v
        v=$(apt-cache madison qemu-utils | awk '$0 ~ /debian.org\/debian [a-z]+\/main/ {print $3; exit}')
        [ -n "$v" ] || die "apt-get install ${missing[*]} failed"
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --allow-downgrades "${missing[@]}" "qemu-utils=$v"
    fi
}

# Installs missing Rust pieces: the thumbv7m target, rustfmt/clippy, nightly and cargo-fuzz.
ensure_rust() {
    command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs)"
    rustup target list --installed | grep -q thumbv7m-none-eabi || rustup target add thumbv7m-none-eabi
    rustup component list --installed | grep -q rustfmt || rustup component add rustfmt
    rustup component list --installed | grep -q clippy || rustup component add clippy
    if [ "${1:-}" = fuzz ]; then
        rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
        cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked
    fi
}
