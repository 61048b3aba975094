#!/usr/bin/env bash
# Install a V6 release side by side with the others and switch to it; or switch back.
#
#   deploy/release.sh deploy PREFIX     build this checkout, install it into
#                                       PREFIX/releases/<time>-<version>-<commit>/venv,
#                                       check it starts, then point PREFIX/current at it
#   deploy/release.sh rollback PREFIX   point PREFIX/current back at PREFIX/previous
#                                       (a second rollback rolls forward again)
#   deploy/release.sh units PREFIX DIR  only write the systemd units for PREFIX into DIR
#
# `current` and `previous` are symlinks replaced by rename(2), so a service starting at
# any moment sees one whole release, never a half-switched one. The systemd units run
# PREFIX/current/venv/bin/v6: after a switch, `systemctl restart v6-engine` starts the
# new release (docs/runbooks/upgrade-rollback.md).
#
# Environment: PYTHON (the interpreter of the new virtualenv, python3), V6_USER (v6),
# V6_ETC (/etc/v6), V6_DATA (/var/lib/v6), V6_BACKUPS (/var/backups/v6) for the units;
# WHEELHOUSE=DIR installs the dependencies offline from a directory of wheels;
# V6_DEPS_SITE=DIR reuses the dependencies installed in another environment's
# site-packages instead of installing them (fast, offline; what the tests use).
set -euo pipefail

die() { echo "release.sh: $*" >&2; exit 1; }

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
action=${1:-}
prefix=${2:-}
[ -n "$action" ] && [ -n "$prefix" ] || die "usage: release.sh deploy|rollback PREFIX"
case "$prefix" in /*) ;; *) prefix="$(pwd)/$prefix" ;; esac

switch_link() {  # switch_link NAME TARGET: atomically point PREFIX/NAME at TARGET
    ln -sfn "$2" "$prefix/.$1.new"
    mv -Tf "$prefix/.$1.new" "$prefix/$1"
}

render_units() {  # render_units DEST
    mkdir -p "$1"
    for unit in "$here"/systemd/*.in; do
        sed -e "s|@PREFIX@|$prefix|g" -e "s|@USER@|${V6_USER:-v6}|g" \
            -e "s|@ETC@|${V6_ETC:-/etc/v6}|g" -e "s|@DATA@|${V6_DATA:-/var/lib/v6}|g" \
            -e "s|@BACKUPS@|${V6_BACKUPS:-/var/backups/v6}|g" -e "s|@RUN_ARGS@|${V6_RUN_ARGS:-}|g" \
            "$unit" > "$1/$(basename "$unit" .in)"
    done
}

deploy() {
    local python=${PYTHON:-python3}
    local build_python="$repo/.venv/bin/python"
    [ -x "$build_python" ] || build_python=$python
    local version commit name release
    version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/pyproject.toml" | head -n1)
    commit=$(git -C "$repo" rev-parse --short=10 HEAD 2>/dev/null || echo nogit)
    if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
        commit="$commit-dirty"
    fi
    name="$(date -u +%Y%m%dT%H%M%S)-$$-$version-$commit"
    release="$prefix/releases/$name"
    mkdir -p "$prefix/releases"
    # Built where it will live (a virtualenv records its own path); nothing points at it
    # until it has passed its checks, and a failed build leaves nothing behind.
    work=$release  # global: the EXIT trap runs after this function has returned
    mkdir "$work"
    trap 'rm -rf "$work"' EXIT

    echo "building v6 $version ($commit)"
    "$build_python" -m pip wheel --quiet --no-deps --no-build-isolation \
        --wheel-dir "$work/wheels" "$repo" >/dev/null
    # No pip inside the release (it is never changed in place): the building pip installs
    # into it, which also saves seconds of ensurepip per release.
    "$python" -m venv --without-pip "$work/venv"
    local pip=("$build_python" -m pip --python "$work/venv/bin/python" install --quiet
        --disable-pip-version-check)
    if [ -n "${V6_DEPS_SITE:-}" ]; then
        local site
        site=$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
        echo "$V6_DEPS_SITE" > "$site/_v6_dependencies.pth"
        "${pip[@]}" --no-index --no-deps "$work"/wheels/*.whl
    elif [ -n "${WHEELHOUSE:-}" ]; then
        "${pip[@]}" --no-index --find-links "$WHEELHOUSE" "$work"/wheels/*.whl
    else
        "${pip[@]}" "$work"/wheels/*.whl
    fi
    # The release must start before anything points at it.
    "$work/venv/bin/v6" check-config >/dev/null || die "the new release fails v6 check-config"
    render_units "$work/systemd"
    cp -R "$repo/docs" "$work/docs"
    cp "$here/v6.env.example" "$work/"
    rm -rf "$work/wheels"
    trap - EXIT

    if [ -L "$prefix/current" ]; then
        switch_link previous "$(readlink "$prefix/current")"
    fi
    switch_link current "releases/$name"
    echo "deployed $name: $prefix/current -> releases/$name"
}

rollback() {
    [ -L "$prefix/previous" ] || die "no previous release under $prefix (nothing to roll back to)"
    local old new
    old=$(readlink "$prefix/current")
    new=$(readlink "$prefix/previous")
    [ -x "$prefix/$new/venv/bin/v6" ] || die "the previous release $new is incomplete"
    switch_link current "$new"
    switch_link previous "$old"
    echo "rolled back: $prefix/current -> $new (was $old)"
}

case "$action" in
    deploy) deploy ;;
    rollback) rollback ;;
    units) [ -n "${3:-}" ] || die "usage: release.sh units PREFIX DIR"; render_units "$3" ;;
    *) die "unknown action '$action' (deploy or rollback)" ;;
esac
